"""Behaviour of the __NAME__ __KIND__ beyond the conformance checks."""

from __future__ import annotations

import torch

from __PACKAGE__.__NAME__ import __CLASS__


def test_splits_are_balanced_and_repeatable() -> None:
    data = __CLASS__(num_classes=4, train_size=40)
    inputs, targets = data.load("train")
    assert inputs.shape == (40, 1, 8, 8) and targets.bincount().tolist() == [10, 10, 10, 10]
    assert torch.equal(inputs, __CLASS__(num_classes=4, train_size=40).load("train")[0])
