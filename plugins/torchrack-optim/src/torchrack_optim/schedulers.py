"""LR schedulers: each entry point takes its params and returns a :class:`SchedulerBuilder`.

``build(optimizer, *, epochs, steps_per_epoch)`` gives the scheduler of one run: an object with
``step(metrics=None)``, ``state_dict()`` and ``load_state_dict(state)``. The builder declares
``interval``, ``"epoch"`` (the default: stepped once after each epoch) or ``"step"`` (once after
each optimizer step), and ``monitor``, the name of the metric a scheduler is stepped with (only
``reduce_on_plateau``'s; None for the others, which are stepped as ``step()``).

A length that defaults to the run (``cosine``'s and ``warmup_cosine``'s ``T_max``, ``onecycle``'s
``total_steps``) is the run's number of scheduler steps: ``epochs``, or ``epochs *
steps_per_epoch`` when the interval is ``"step"``. ``step``, ``multistep``, ``exponential``,
``cosine``, ``onecycle`` and ``reduce_on_plateau`` are ``torch.optim.lr_scheduler``'s classes,
with the same argument names and defaults.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch.optim import lr_scheduler

Interval = Literal["step", "epoch"]
INTERVALS = ("step", "epoch")

Make = Callable[[torch.optim.Optimizer, int], Any]


class SchedulerBuilder:
    """``build(optimizer, *, epochs, steps_per_epoch)`` -> a scheduler; declares ``interval``
    and ``monitor``."""

    def __init__(self, name: str, make: Make, *, interval: str = "epoch",
                 monitor: str | None = None) -> None:
        if interval not in INTERVALS:
            raise ValueError(f"{name}: interval must be 'step' or 'epoch', found {interval!r}")
        self.name = name
        self.interval = interval
        self.monitor = monitor
        self._make = make

    def total_steps(self, epochs: int, steps_per_epoch: int) -> int:
        """How many times a run steps this scheduler: per epoch, or per optimizer step."""
        return max(1, epochs if self.interval == "epoch" else epochs * steps_per_epoch)

    def __call__(self, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int) -> Any:
        return self._make(optimizer, self.total_steps(epochs, steps_per_epoch))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, interval={self.interval!r})"


def _positive(who: str, **values: float | None) -> None:
    for name, value in values.items():
        if value is not None and not value > 0:  # also refuses NaN
            raise ValueError(f"{who}: {name} must be > 0, found {value}")


def _non_negative(who: str, **values: float) -> None:
    for name, value in values.items():
        if not value >= 0:
            raise ValueError(f"{who}: {name} must be >= 0, found {value}")


class Constant:
    """The learning rate stays as the optimizer has it; nothing to save."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer

    def step(self, metrics: float | None = None) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def constant(interval: Interval = "epoch") -> SchedulerBuilder:
    """The learning rate never changes."""
    return SchedulerBuilder("constant", lambda opt, total: Constant(opt), interval=interval)


def step(step_size: int = 10, gamma: float = 0.1, interval: Interval = "epoch") -> SchedulerBuilder:
    """Multiply the learning rate by gamma every step_size steps: torch's StepLR."""
    _positive("step", step_size=step_size)
    _non_negative("step", gamma=gamma)
    return SchedulerBuilder(
        "step", lambda opt, total: lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma),
        interval=interval)


def multistep(milestones: Sequence[int] = (30, 60), gamma: float = 0.1,
              interval: Interval = "epoch") -> SchedulerBuilder:
    """Multiply the learning rate by gamma at each milestone: torch's MultiStepLR."""
    _non_negative("multistep", gamma=gamma)
    marks = [int(m) for m in milestones]
    if any(m < 1 for m in marks):
        raise ValueError(f"multistep: milestones must be >= 1, found {marks}")
    return SchedulerBuilder(
        "multistep", lambda opt, total: lr_scheduler.MultiStepLR(opt, milestones=marks, gamma=gamma),
        interval=interval)


def exponential(gamma: float = 0.95, interval: Interval = "epoch") -> SchedulerBuilder:
    """Multiply the learning rate by gamma at every step: torch's ExponentialLR."""
    _non_negative("exponential", gamma=gamma)
    return SchedulerBuilder(
        "exponential", lambda opt, total: lr_scheduler.ExponentialLR(opt, gamma=gamma),
        interval=interval)


def cosine(T_max: int | None = None, eta_min: float = 0.0,
           interval: Interval = "epoch") -> SchedulerBuilder:
    """Cosine annealing to eta_min over T_max steps (default: the whole run): torch's
    CosineAnnealingLR."""
    _positive("cosine", T_max=T_max)
    _non_negative("cosine", eta_min=eta_min)
    return SchedulerBuilder(
        "cosine",
        lambda opt, total: lr_scheduler.CosineAnnealingLR(opt, T_max=T_max or total, eta_min=eta_min),
        interval=interval)


class WarmupCosine:
    """Linear warmup from ``start_factor * lr`` to ``lr`` over ``warmup_steps`` steps, then cosine
    annealing to ``eta_min`` at step ``T_max``, where it stays.

    The learning rate after ``t`` steps, for each parameter group's initial ``lr``:

        t < W:  lr * (start_factor + (1 - start_factor) * t / W)
        t >= W: eta_min + (lr - eta_min) * (1 + cos(pi * min(1, (t - W) / (T_max - W)))) / 2
    """

    def __init__(self, optimizer: torch.optim.Optimizer, *, warmup_steps: int, start_factor: float,
                 T_max: int, eta_min: float) -> None:
        self.optimizer = optimizer
        self.warmup_steps = warmup_steps
        self.start_factor = start_factor
        self.T_max = T_max
        self.eta_min = eta_min
        self.base_lrs = [float(group["lr"]) for group in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def lr_at(self, base: float, t: int) -> float:
        w = self.warmup_steps
        if t < w:
            return base * (self.start_factor + (1.0 - self.start_factor) * t / w)
        progress = min(1.0, (t - w) / max(1, self.T_max - w))
        return self.eta_min + (base - self.eta_min) * (1.0 + math.cos(math.pi * progress)) / 2.0

    def _apply(self) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = self.lr_at(base, self.last_step)

    def step(self, metrics: float | None = None) -> None:
        self.last_step += 1
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        return {"last_step": self.last_step, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_step = int(state["last_step"])
        self.base_lrs = [float(b) for b in state["base_lrs"]]
        self._apply()


def warmup_cosine(warmup_steps: int = 0, start_factor: float = 0.0, T_max: int | None = None,
                  eta_min: float = 0.0, interval: Interval = "epoch") -> SchedulerBuilder:
    """Linear warmup over warmup_steps, then cosine annealing to eta_min at T_max (default: the
    end of the run)."""
    _non_negative("warmup_cosine", warmup_steps=warmup_steps, eta_min=eta_min)
    _positive("warmup_cosine", T_max=T_max)
    if not 0.0 <= start_factor <= 1.0:
        raise ValueError(f"warmup_cosine: start_factor must be in [0, 1], found {start_factor}")
    return SchedulerBuilder(
        "warmup_cosine",
        lambda opt, total: WarmupCosine(opt, warmup_steps=warmup_steps, start_factor=start_factor,
                                        T_max=T_max or total, eta_min=eta_min),
        interval=interval)


def onecycle(max_lr: float | None = None, total_steps: int | None = None, pct_start: float = 0.3,
             anneal_strategy: Literal["cos", "linear"] = "cos", cycle_momentum: bool = True,
             base_momentum: float = 0.85, max_momentum: float = 0.95, div_factor: float = 25.0,
             final_div_factor: float = 10000.0, three_phase: bool = False,
             interval: Interval = "epoch") -> SchedulerBuilder:
    """The 1cycle policy (Smith and Topin 2019): up to max_lr (default: the optimizer's lr) and
    down far below it over total_steps (default: the whole run): torch's OneCycleLR."""
    _positive("onecycle", max_lr=max_lr, total_steps=total_steps, div_factor=div_factor,
              final_div_factor=final_div_factor)
    if not 0.0 < pct_start < 1.0:
        raise ValueError(f"onecycle: pct_start must be in (0, 1), found {pct_start}")

    def make(opt: torch.optim.Optimizer, total: int) -> Any:
        peak: float | list[float] = (max_lr if max_lr is not None
                                     else [float(group["lr"]) for group in opt.param_groups])
        return lr_scheduler.OneCycleLR(
            opt, max_lr=peak, total_steps=total_steps or total, pct_start=pct_start,
            anneal_strategy=anneal_strategy, cycle_momentum=cycle_momentum,
            base_momentum=base_momentum, max_momentum=max_momentum, div_factor=div_factor,
            final_div_factor=final_div_factor, three_phase=three_phase)

    return SchedulerBuilder("onecycle", make, interval=interval)


def reduce_on_plateau(monitor: str = "eval_loss", mode: Literal["min", "max"] = "min",
                      factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
                      threshold_mode: Literal["rel", "abs"] = "rel", cooldown: int = 0,
                      min_lr: float = 0.0, eps: float = 1e-8,
                      interval: Literal["epoch"] = "epoch") -> SchedulerBuilder:
    """Multiply the learning rate by factor when the monitored metric has not improved for
    patience epochs: torch's ReduceLROnPlateau, stepped with the metric after each epoch."""
    if not monitor:
        raise ValueError("reduce_on_plateau: monitor must name a metric, e.g. 'eval_loss'")
    if not 0.0 <= factor < 1.0:
        raise ValueError(f"reduce_on_plateau: factor must be in [0, 1), found {factor}")
    _non_negative("reduce_on_plateau", patience=patience, threshold=threshold, cooldown=cooldown,
                  min_lr=min_lr, eps=eps)
    if interval != "epoch":
        raise ValueError(f"reduce_on_plateau: interval must be 'epoch' (metrics are computed once "
                         f"per epoch), found {interval!r}")
    return SchedulerBuilder(
        "reduce_on_plateau",
        lambda opt, total: lr_scheduler.ReduceLROnPlateau(
            opt, mode=mode, factor=factor, patience=patience, threshold=threshold,
            threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr, eps=eps),
        interval=interval, monitor=monitor)
