"""``__NAME__`` scheduler: the learning rate decays linearly to ``end_factor`` times its start over
the whole run."""

from __future__ import annotations

from typing import Literal

import torch


class __CLASS__:
    """The entry point: ``__CLASS__(**params)`` checks the params and is the builder a run calls,
    ``build(optimizer, *, epochs, steps_per_epoch)``. ``interval`` says when the run steps what it
    builds: after each epoch, or after each optimizer step; ``monitor`` is None (its ``step()``
    takes no metric)."""

    monitor: str | None = None

    def __init__(self, end_factor: float = 0.0, interval: Literal["step", "epoch"] = "epoch") -> None:
        if not 0.0 <= end_factor <= 1.0:
            raise ValueError(f"__NAME__ scheduler: end_factor must be in [0, 1], found {end_factor}")
        if interval not in ("step", "epoch"):
            raise ValueError(f"__NAME__ scheduler: interval must be 'step' or 'epoch', found {interval!r}")
        self.end_factor = end_factor
        self.interval = interval

    def __call__(self, optimizer: torch.optim.Optimizer, *, epochs: int,
                 steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler:
        steps = epochs if self.interval == "epoch" else epochs * steps_per_epoch
        return torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0, end_factor=self.end_factor,
                                                 total_iters=max(1, steps))
