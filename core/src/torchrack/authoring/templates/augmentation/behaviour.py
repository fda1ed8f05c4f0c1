"""Behaviour of the __NAME__ __KIND__ beyond the conformance checks."""

from __future__ import annotations

import torch

from __PACKAGE__.__NAME__ import __CLASS__


def test_p_one_inverts_every_sample_and_p_zero_none() -> None:
    x, y = torch.rand(4, 1, 2, 2), torch.arange(4)
    assert torch.equal(__CLASS__(p=1.0)(x, y)[0], 1.0 - x)
    assert torch.equal(__CLASS__(p=0.0)(x, y)[0], x)
