"""Behaviour of the __NAME__ __KIND__ beyond the conformance checks."""

from __future__ import annotations

import torch

from __PACKAGE__.__NAME__ import __CLASS__


def test_each_coordinate_moves_by_lr_against_the_sign_of_its_gradient() -> None:
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    optimizer = __CLASS__(lr=0.5)([p])
    p.grad = torch.tensor([0.001, -40.0, 0.0])
    optimizer.step()
    assert p.detach().tolist() == [0.5, -1.5, 3.0]
    assert isinstance(optimizer, torch.optim.Optimizer)
