"""Behaviour of the __NAME__ __KIND__ beyond the conformance checks."""

from __future__ import annotations

import torch

from __PACKAGE__.__NAME__ import __CLASS__


def test_logits_have_num_classes_columns() -> None:
    assert __CLASS__(in_features=6, num_classes=3)(torch.randn(2, 6)).shape == (2, 3)
