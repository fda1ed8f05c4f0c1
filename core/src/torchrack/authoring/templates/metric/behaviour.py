"""Behaviour of the __NAME__ __KIND__ beyond the conformance checks."""

from __future__ import annotations

import torch

from __PACKAGE__.__NAME__ import __CLASS__


def test_error_rate_counts_misses() -> None:
    metric = __CLASS__()
    metric.update(torch.tensor([[2.0, 1.0], [2.0, 1.0], [0.0, 3.0], [0.0, 3.0]]), torch.tensor([0, 1, 1, 1]))
    assert metric.compute() == {"__NAME__": 0.25}
