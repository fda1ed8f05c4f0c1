"""Behaviour of the __NAME__ __KIND__ beyond the conformance checks."""

from __future__ import annotations

import torch

from __PACKAGE__.__NAME__ import __CLASS__


def test_a_feature_map_becomes_one_vector_per_sample() -> None:
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    out = __CLASS__()(x)
    assert out.shape == (2, 3)
    assert torch.allclose(out, x.mean(dim=(2, 3)))
