"""Behaviour of the __NAME__ __KIND__ beyond the conformance checks."""

from __future__ import annotations

import torch

from __PACKAGE__.__NAME__ import __CLASS__


def test_features_have_width_columns() -> None:
    net = __CLASS__(in_channels=1, width=5)
    assert net(torch.rand(2, 1, 6, 6)).shape == (2, 5) and net.out_features == 5
