"""Behaviour of the __NAME__ __KIND__ beyond the conformance checks."""

from __future__ import annotations

import pytest
import torch

from __PACKAGE__.__NAME__ import __CLASS__


@pytest.mark.parametrize(("interval", "steps"), [("epoch", 4), ("step", 12)])
def test_the_lr_decays_linearly_over_the_run(interval: str, steps: int) -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    build = __CLASS__(end_factor=0.0, interval=interval)  # type: ignore[arg-type]
    scheduler = build(optimizer, epochs=4, steps_per_epoch=3)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([1.0 - i / steps for i in range(steps)])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0) and build.interval == interval
