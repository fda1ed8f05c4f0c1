"""Behaviour of the __NAME__ __KIND__ beyond the conformance checks."""

from __future__ import annotations

import torch

from __PACKAGE__.__NAME__ import __CLASS__


def test_confident_right_answers_cost_less_than_wrong_ones() -> None:
    loss = __CLASS__(label_smoothing=0.0)
    targets = torch.tensor([0, 1])
    right = torch.tensor([[5.0, -5.0], [-5.0, 5.0]])
    assert loss(right, targets) < 0.01 < loss(-right, targets)
    soft = torch.nn.functional.one_hot(targets, 2).float()
    assert torch.allclose(loss(right, soft), loss(right, targets))
