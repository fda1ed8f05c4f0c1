"""The conformance checks of optimizers and schedulers pass conforming ones and catch planted
faults, each with a message naming the check and the component."""

from __future__ import annotations

from pathlib import Path

import pytest
from _fakeplugin import spec, write_plugin
from torchrack import Registry
from torchrack.testing import ConformanceFailure, check_component
from torchrack.testing._catalog import checks_for

CODE = '''
import torch


class GoodOptimizer:
    def __init__(self, lr: float = 0.1):
        self.lr = lr

    def __call__(self, param_groups):
        return torch.optim.SGD(param_groups, lr=self.lr, momentum=0.9)


class FrozenOptimizer(GoodOptimizer):
    def __call__(self, param_groups):
        return torch.optim.SGD(param_groups, lr=0.0)


class NoisyOptimizer(GoodOptimizer):
    def __call__(self, param_groups):
        class Noisy(torch.optim.SGD):
            @torch.no_grad()
            def step(self, closure=None):
                super().step(closure)
                for group in self.param_groups:
                    for p in group["params"]:
                        p.add_(torch.randn(p.shape))

        return Noisy(param_groups, lr=self.lr)


class ForgetfulOptimizer(GoodOptimizer):
    """Keeps its momentum outside ``state``: state_dict() loses it."""

    def __call__(self, param_groups):
        class Forgetful(torch.optim.SGD):
            buffers = {}

            @torch.no_grad()
            def step(self, closure=None):
                for group in self.param_groups:
                    for p in group["params"]:
                        buf = self.buffers.setdefault(id(self), {}).get(id(p))
                        buf = p.grad.clone() if buf is None else 0.9 * buf + p.grad
                        self.buffers[id(self)][id(p)] = buf
                        p.add_(buf, alpha=-group["lr"])

        return Forgetful(param_groups, lr=self.lr)


class NotABuilder:
    def __init__(self, lr: float = 0.1):
        self.lr = lr


class GoodScheduler:
    monitor = None

    def __init__(self, gamma: float = 0.5, interval: str = "epoch"):
        self.gamma = gamma
        self.interval = interval

    def __call__(self, optimizer, *, epochs, steps_per_epoch):
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=self.gamma)


class NoIntervalScheduler(GoodScheduler):
    def __init__(self, gamma: float = 0.5):
        self.gamma = gamma


class ExplodingScheduler(GoodScheduler):
    def __call__(self, optimizer, *, epochs, steps_per_epoch):
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: float("inf") if t > 1 else 1.0)


class AmnesicScheduler(GoodScheduler):
    """Its state_dict() forgets how far it went."""

    def __call__(self, optimizer, *, epochs, steps_per_epoch):
        class Amnesic(torch.optim.lr_scheduler.StepLR):
            def state_dict(self):
                return {}

            def load_state_dict(self, state):
                return None

        return Amnesic(optimizer, step_size=2, gamma=self.gamma)


class StepMonitor(GoodScheduler):
    monitor = "eval_loss"

    def __call__(self, optimizer, *, epochs, steps_per_epoch):
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
'''

INTERVAL = {"interval": {"enum": ["step", "epoch"], "default": "epoch"}}


def _entry(kind: str, cls: str, params: dict[str, float], interval: bool = True) -> dict[str, object]:
    entry = spec(kind, cls, params, devices=["cpu"])
    if interval:
        entry["params"]["properties"].update(INTERVAL)  # type: ignore[index]
    return entry


COMPONENTS = {
    "good_opt": _entry("optimizer", "GoodOptimizer", {"lr": 0.1}, interval=False),
    "frozen_opt": _entry("optimizer", "FrozenOptimizer", {"lr": 0.1}, interval=False),
    "noisy_opt": _entry("optimizer", "NoisyOptimizer", {"lr": 0.1}, interval=False),
    "forgetful_opt": _entry("optimizer", "ForgetfulOptimizer", {"lr": 0.1}, interval=False),
    "not_a_builder": _entry("optimizer", "NotABuilder", {"lr": 0.1}, interval=False),
    "good_sched": _entry("scheduler", "GoodScheduler", {"gamma": 0.5}),
    "step_good_sched": _entry("scheduler", "GoodScheduler", {"gamma": 0.5}),
    "no_interval": _entry("scheduler", "NoIntervalScheduler", {"gamma": 0.5}, interval=False),
    "exploding": _entry("scheduler", "ExplodingScheduler", {"gamma": 0.5}),
    "amnesic": _entry("scheduler", "AmnesicScheduler", {"gamma": 0.5}),
    "step_monitor": _entry("scheduler", "StepMonitor", {"gamma": 0.5}),
}
COMPONENTS["step_good_sched"]["params"]["properties"]["interval"] = {  # type: ignore[index]
    "enum": ["step", "epoch"], "default": "epoch"}


@pytest.fixture
def registry(fake_site: Path) -> Registry:
    write_plugin(fake_site, "fake-steppers", CODE, COMPONENTS)
    return Registry.discover(path=[str(fake_site)], use_cache=False)


def test_the_kinds_get_their_checks() -> None:
    common = ["specs", "params_schema", "global_state", "instantiate"]
    assert checks_for("optimizer") == [*common, "optimizer_step", "optimizer_state"]
    assert checks_for("scheduler") == [*common, "lr_schedule", "scheduler_state"]


@pytest.mark.parametrize(("name", "params"), [("good_opt", None), ("good_sched", None),
                                              ("step_good_sched", {"interval": "step"})])
def test_conforming_ones_pass_every_check(registry: Registry, name: str, params: dict[str, str] | None) -> None:
    results = check_component(f"fake-steppers:{name}", registry=registry, params=params)
    assert [r.status for r in results] == ["passed"] * len(results) and len(results) == 6


PLANTED = [
    ("frozen_opt", "optimizer", "optimizer_step", "6 steps along the gradient leave the parameter unchanged"),
    ("noisy_opt", "optimizer", "optimizer_step", "two optimizers built alike, stepped with the same gradients"),
    ("noisy_opt", "optimizer", "global_state", "stepping it drew from torch's global RNG"),
    ("forgetful_opt", "optimizer", "optimizer_state", "restored from state_dict() continues differently"),
    ("not_a_builder", "optimizer", "instantiate", "must return a builder, build(param_groups)"),
    ("no_interval", "scheduler", "instantiate", "a scheduler's builder needs `interval`"),
    ("no_interval", "scheduler", "instantiate", "a scheduler takes the param `interval`"),
    ("exploding", "scheduler", "lr_schedule", "are not all finite and >= 0"),
    ("amnesic", "scheduler", "scheduler_state", "restored from state_dict() continues with learning rates"),
    ("step_monitor", "scheduler", "lr_schedule", None),
]


@pytest.mark.parametrize(("name", "kind", "check", "says"), PLANTED, ids=[f"{p[0]}-{p[2]}" for p in PLANTED])
def test_a_planted_fault_fails_its_check(registry: Registry, name: str, kind: str, check: str,
                                         says: str | None) -> None:
    params = {"interval": "step"} if name == "step_monitor" else None
    with pytest.raises(ConformanceFailure) as excinfo:
        check_component(f"fake-steppers:{name}", registry=registry, params=params)
    mine = [f for f in excinfo.value.failures if f.startswith(f"[{check}] {kind} fake-steppers:{name}: ")]
    assert mine, excinfo.value.failures
    if says is None:  # a monitoring scheduler stepped per step
        says = "a scheduler that monitors a metric is stepped once per epoch"
    assert any(says in f for f in mine), mine
