"""Conformance checks of the kinds that step a training run: optimizers and LR schedulers.

Neither takes tensors in or gives tensors out, so their checks drive them on a tiny problem of
fixed values (no random draw anywhere): a 2x3 parameter whose gradient is ``p - TARGET``, stepped
a few times by the optimizer under test, or by plain SGD under the scheduler under test, which is
built for a run of :data:`EPOCHS` epochs of :data:`STEPS_PER_EPOCH` steps. A scheduler that
monitors a metric is stepped with :data:`MONITORED`, a sequence that improves, then stalls.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch

from torchrack.testing._subject import CheckError, Subject, describe

EPOCHS = 3
STEPS_PER_EPOCH = 4
OPTIMIZER_STEPS = 6
INTERVALS = ("step", "epoch")
#: The metric values a monitoring scheduler is stepped with, one per step (then the last, again).
MONITORED = (1.0, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7)

_START = ((0.5, -1.0, 2.0), (1.5, -0.25, 0.0))
_TARGET = ((1.0, 0.0, -1.0), (0.25, 0.5, -0.5))


def parameter() -> torch.nn.Parameter:
    """The tiny parameter every check steps: the same values each time."""
    return torch.nn.Parameter(torch.tensor(_START, dtype=torch.float32))


def _set_grad(p: torch.Tensor) -> None:
    p.grad = p.detach() - torch.tensor(_TARGET, dtype=p.dtype)  # of 0.5 * |p - TARGET|^2


def _build_optimizer(builder: Any, p: torch.Tensor) -> Any:
    try:
        optimizer = builder([p])
    except Exception as exc:  # noqa: BLE001
        raise CheckError(f"build(param_groups) raised {describe(exc)}") from exc
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise CheckError(f"build(param_groups) must return a torch.optim.Optimizer, found "
                         f"{type(optimizer).__name__}")
    return optimizer


def _optimizer_steps(optimizer: Any, p: torch.Tensor, steps: int) -> list[torch.Tensor]:
    values = []
    for i in range(steps):
        try:
            optimizer.zero_grad(set_to_none=True)
            _set_grad(p)
            optimizer.step()
        except Exception as exc:  # noqa: BLE001
            raise CheckError(f"step {i + 1} raised {describe(exc)}") from exc
        values.append(p.detach().clone())
    return values


def _plain_sgd(p: torch.Tensor) -> torch.optim.Optimizer:
    # momentum > 0, so that schedulers that cycle the momentum (onecycle) find one
    return torch.optim.SGD([p], lr=0.1, momentum=0.9)


def _build_scheduler(builder: Any, optimizer: Any) -> Any:
    try:
        scheduler = builder(optimizer, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH)
    except Exception as exc:  # noqa: BLE001
        raise CheckError(f"build(optimizer, epochs={EPOCHS}, steps_per_epoch={STEPS_PER_EPOCH}) "
                         f"raised {describe(exc)}") from exc
    missing = [m for m in ("step", "state_dict", "load_state_dict") if not callable(getattr(scheduler, m, None))]
    if missing:
        raise CheckError(f"the built scheduler ({type(scheduler).__name__}) needs "
                         f"{', '.join(f'`{m}()`' for m in missing)}")
    return scheduler


def scheduler_steps(builder: Any) -> int:
    """How many times a run of EPOCHS x STEPS_PER_EPOCH steps a scheduler of this interval."""
    return EPOCHS if getattr(builder, "interval", "epoch") == "epoch" else EPOCHS * STEPS_PER_EPOCH


def _lr_steps(builder: Any, optimizer: Any, scheduler: Any, p: torch.Tensor, start: int,
              stop: int) -> list[float]:
    monitor = getattr(builder, "monitor", None)
    lrs = []
    for i in range(start, stop):
        try:
            optimizer.zero_grad(set_to_none=True)
            _set_grad(p)
            optimizer.step()
            if monitor is None:
                scheduler.step()
            else:
                scheduler.step(MONITORED[min(i, len(MONITORED) - 1)])
        except Exception as exc:  # noqa: BLE001
            raise CheckError(f"step {i + 1} raised {describe(exc)}") from exc
        lrs.append(float(optimizer.param_groups[0]["lr"]))
    return lrs


def shape_problems(s: Subject, obj: Any) -> list[str]:
    """What the entry point's result must be: a builder, with ``interval`` (and ``monitor``) for
    a scheduler."""
    if not callable(obj):
        what = ("an optimizer entry point must return a builder, build(param_groups)"
                if s.kind == "optimizer" else
                "a scheduler entry point must return a builder, build(optimizer, *, epochs, steps_per_epoch)")
        return [f"{what}; found {type(obj).__name__}"]
    if s.kind != "scheduler":
        return []
    problems = []
    interval = getattr(obj, "interval", None)
    prop = s.comp.params_schema.get("properties", {}).get("interval")
    if interval not in INTERVALS:
        problems.append(f"a scheduler's builder needs `interval`, 'step' or 'epoch', found {interval!r}")
    elif "interval" in s.params and s.params["interval"] != interval:
        problems.append(f"the builder's interval is {interval!r} but its param interval is {s.params['interval']!r}")
    if not isinstance(prop, dict) or prop.get("default") != "epoch":
        problems.append("a scheduler takes the param `interval` ('step' or 'epoch'), default 'epoch'; "
                        "declare it in the params schema")
    monitor = getattr(obj, "monitor", None)
    if monitor is not None and not isinstance(monitor, str):
        problems.append(f"`monitor` must be a metric name or None, found {monitor!r}")
    elif monitor is not None and interval == "step":
        problems.append("a scheduler that monitors a metric is stepped once per epoch: its interval must be 'epoch'")
    return problems


def exercise(s: Subject, obj: Any) -> None:
    """Use a built component as a run would (the ``global_state`` check watches this)."""
    p = parameter()
    if s.kind == "optimizer":
        _optimizer_steps(_build_optimizer(obj, p), p, 2)
    else:
        opt = _plain_sgd(p)
        _lr_steps(obj, opt, _build_scheduler(obj, opt), p, 0, scheduler_steps(obj))


def check_optimizer_step(s: Subject) -> list[str]:
    """An optimizer moves a parameter by its gradient, finitely, and alike each time."""
    runs = []
    for _ in range(2):
        p = parameter()
        runs.append(_optimizer_steps(_build_optimizer(s.build(), p), p, OPTIMIZER_STEPS))
    first, second = runs
    problems = []
    if not all(bool(torch.isfinite(v).all()) for v in first):
        problems.append(f"stepping the parameter {list(_START)} gives non-finite values: {first[-1].tolist()}")
    elif torch.equal(first[-1], parameter().detach()):
        problems.append(f"{OPTIMIZER_STEPS} steps along the gradient leave the parameter unchanged "
                        f"(lr {s.params.get('lr', '?')})")
    if not all(torch.equal(a, b) for a, b in zip(first, second, strict=True)):
        problems.append("two optimizers built alike, stepped with the same gradients, give different parameters")
    return problems


def check_optimizer_state(s: Subject) -> list[str]:
    """``load_state_dict(state_dict())`` continues exactly where it left off (resuming a run)."""
    half = OPTIMIZER_STEPS // 2
    p = parameter()
    opt = _build_optimizer(s.build(), p)
    _optimizer_steps(opt, p, half)
    q = torch.nn.Parameter(p.detach().clone())
    again = _build_optimizer(s.build(), q)
    try:
        again.load_state_dict(copy.deepcopy(opt.state_dict()))
    except Exception as exc:  # noqa: BLE001
        return [f"load_state_dict(state_dict()) raised {describe(exc)}"]
    a = _optimizer_steps(opt, p, OPTIMIZER_STEPS - half)
    b = _optimizer_steps(again, q, OPTIMIZER_STEPS - half)
    if not all(torch.equal(x, y) for x, y in zip(a, b, strict=True)):
        return ["an optimizer restored from state_dict() continues differently from the original"]
    return []


def check_lr_schedule(s: Subject) -> list[str]:
    """A scheduler's learning rates over a run are finite, >= 0 and alike each time."""
    runs = []
    for _ in range(2):
        builder = s.build()
        problems = shape_problems(s, builder)
        if problems:
            return problems
        p = parameter()
        opt = _plain_sgd(p)
        runs.append(_lr_steps(builder, opt, _build_scheduler(builder, opt), p, 0, scheduler_steps(builder)))
    first, second = runs
    problems = []
    if not all(math.isfinite(lr) and lr >= 0 for lr in first):
        problems.append(f"the learning rates over {len(first)} steps are not all finite and >= 0: {first}")
    if first != second:
        problems.append(f"two schedulers built alike give different learning rates: {first} and {second}")
    return problems


def check_scheduler_state(s: Subject) -> list[str]:
    """``load_state_dict(state_dict())`` continues the learning rates exactly (resuming a run)."""
    builder = s.build()
    total = scheduler_steps(builder)
    half = total // 2
    p = parameter()
    opt = _plain_sgd(p)
    sched = _build_scheduler(builder, opt)
    _lr_steps(builder, opt, sched, p, 0, half)
    q = torch.nn.Parameter(p.detach().clone())
    opt2 = _plain_sgd(q)
    sched2 = _build_scheduler(s.build(), opt2)  # as a resumed run does: build both, then load both
    try:
        opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
        sched2.load_state_dict(copy.deepcopy(sched.state_dict()))
    except Exception as exc:  # noqa: BLE001
        return [f"load_state_dict(state_dict()) raised {describe(exc)}"]
    a = _lr_steps(builder, opt, sched, p, half, total)
    b = _lr_steps(builder, opt2, sched2, q, half, total)
    if a != b:
        return [f"a scheduler restored from state_dict() continues with learning rates {b}, the original with {a}"]
    return []
