"""Each optimizer and scheduler, built through the registry as a run builds it, against its
torch.optim counterpart (Lion: against a hand-written reference of the published rule), over 20
steps of a small fixed problem."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.optim import lr_scheduler
from torchrack import Registry
from torchrack.cli import main
from torchrack.contracts import params_with_defaults, validate_params

DIST = "torchrack-optim"
STEPS = 20
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover()


def builder(registry: Registry, kind: str, name: str, params: dict[str, Any]) -> Any:
    comp = registry.resolve(kind, f"{DIST}:{name}")
    assert not validate_params(comp.params_schema, params), params
    return registry.load(comp)(**params_with_defaults(comp.params_schema, params))


# -- a small fixed problem -----------------------------------------------------------------------


def problem(dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Least squares: a 3x2 weight, 8 inputs; every value from one seeded generator."""
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(3, 2, generator=gen, dtype=dtype)
    x = torch.randn(8, 3, generator=gen, dtype=dtype)
    y = torch.randn(8, 2, generator=gen, dtype=dtype)
    return w, x, y


def trajectory(make: Any, dtype: torch.dtype = torch.float32, steps: int = STEPS) -> list[torch.Tensor]:
    """The weight after each of ``steps`` optimizer steps; ``make(param_groups)`` builds one."""
    w0, x, y = problem(dtype)
    w = torch.nn.Parameter(w0.clone())
    opt = make([w])
    out = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        ((x @ w - y) ** 2).mean().backward()
        opt.step()
        out.append(w.detach().clone())
    return out


def assert_same_trajectory(a: list[torch.Tensor], b: list[torch.Tensor], rtol: float = 1e-6,
                           atol: float = 1e-7) -> None:
    assert len(a) == len(b) == STEPS
    for i, (u, v) in enumerate(zip(a, b, strict=True)):
        torch.testing.assert_close(u, v, rtol=rtol, atol=atol, msg=f"step {i + 1}")


# -- optimizers ----------------------------------------------------------------------------------

#: (name, params, torch class, its arguments): the params {} check that the defaults are torch's
#: (sgd's lr aside, which was 0.1 before optimizers were plugins).
OPTIMIZERS: list[tuple[str, dict[str, Any], Any, dict[str, Any]]] = [
    ("sgd", {}, torch.optim.SGD, {"lr": 0.1}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}, torch.optim.SGD,
     {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}),
    ("adam", {}, torch.optim.Adam, {}),
    ("adam", {"lr": 0.01, "betas": [0.8, 0.9], "eps": 1e-6, "weight_decay": 0.1, "amsgrad": True},
     torch.optim.Adam, {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.1, "amsgrad": True}),
    ("adamw", {}, torch.optim.AdamW, {}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.1, "betas": [0.85, 0.95]}, torch.optim.AdamW,
     {"lr": 0.01, "weight_decay": 0.1, "betas": (0.85, 0.95)}),
    ("rmsprop", {}, torch.optim.RMSprop, {}),
    ("rmsprop", {"lr": 0.001, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.01},
     torch.optim.RMSprop, {"lr": 0.001, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    ("adagrad", {}, torch.optim.Adagrad, {}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1},
     torch.optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1}),
]


def test_every_component_is_covered(registry: Registry) -> None:
    mine = {(c.kind, c.name) for c in registry.components() if c.dist == DIST}
    assert mine == {("optimizer", n) for n, *_ in OPTIMIZERS} | {("optimizer", "lion")} | {
        ("scheduler", n) for n in ("constant", "step", "multistep", "exponential", "cosine",
                                   "warmup_cosine", "onecycle", "reduce_on_plateau")}


@pytest.mark.parametrize(("name", "params", "cls", "kwargs"), OPTIMIZERS,
                         ids=[f"{n}-{i}" for i, (n, *_) in enumerate(OPTIMIZERS)])
def test_optimizer_matches_torch(registry: Registry, name: str, params: dict[str, Any], cls: Any,
                                 kwargs: dict[str, Any]) -> None:
    build = builder(registry, "optimizer", name, params)
    ours = trajectory(build)
    theirs = trajectory(lambda groups: cls(groups, **kwargs))
    assert_same_trajectory(ours, theirs, rtol=0, atol=0)  # the same torch calls: bit for bit
    assert isinstance(build([torch.nn.Parameter(torch.zeros(1))]), cls)


def test_optimizers_take_parameter_groups(registry: Registry) -> None:
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = builder(registry, "optimizer", "adamw", {"lr": 0.01})([{"params": [a]}, {"params": [b], "lr": 0.5}])
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.5]


@pytest.mark.parametrize(("name", "params", "needle"), [
    ("sgd", {"nesterov": True}, "nesterov needs momentum > 0"),
    ("adam", {"betas": [0.9, 1.0]}, "betas must be two numbers in [0, 1)"),
    ("lion", {"lr": float("nan")}, "lr must be >= 0"),
])
def test_bad_params_fail_before_any_model_is_built(registry: Registry, name: str, params: dict[str, Any],
                                                   needle: str) -> None:
    """Even past the manifest's schema (a caller that skips it), the entry point refuses them."""
    factory = registry.load(registry.resolve("optimizer", f"{DIST}:{name}"))
    with pytest.raises(ValueError, match=re.escape(needle)):
        factory(**params)


# -- Lion against the published update rule --------------------------------------------------------


def lion_reference(lr: float, betas: tuple[float, float], weight_decay: float,
                   dtype: torch.dtype) -> list[torch.Tensor]:
    """Program 1 of Chen et al. 2023, line by line, on plain tensors (no torch.optim)."""
    w0, x, y = problem(dtype)
    p = w0.clone()
    m = torch.zeros_like(p)
    beta1, beta2 = betas
    out = []
    for _ in range(STEPS):
        q = p.clone().requires_grad_(True)
        ((x @ q - y) ** 2).mean().backward()
        g = q.grad
        assert g is not None
        c = beta1 * m + (1 - beta1) * g
        p = p - lr * (torch.sign(c) + weight_decay * p)
        m = beta2 * m + (1 - beta2) * g
        out.append(p.clone())
    return out


@pytest.mark.parametrize(("params", "lr", "betas", "wd"), [
    ({}, 1e-4, (0.9, 0.99), 0.0),
    ({"lr": 0.01, "betas": [0.95, 0.98], "weight_decay": 0.1}, 0.01, (0.95, 0.98), 0.1),
    ({"lr": 0.003, "weight_decay": 1.0}, 0.003, (0.9, 0.99), 1.0),
])
def test_lion_follows_the_published_rule(registry: Registry, params: dict[str, Any], lr: float,
                                         betas: tuple[float, float], wd: float) -> None:
    build = builder(registry, "optimizer", "lion", params)
    ours = trajectory(build, dtype=torch.float64)
    assert_same_trajectory(ours, lion_reference(lr, betas, wd, torch.float64), rtol=1e-12, atol=1e-12)


def test_lion_moves_every_coordinate_by_lr(registry: Registry) -> None:
    w0, _, _ = problem()
    (first, *_) = trajectory(builder(registry, "optimizer", "lion", {"lr": 0.01}))
    torch.testing.assert_close((first - w0).abs(), torch.full_like(w0, 0.01))
    opt = builder(registry, "optimizer", "lion", {})([torch.nn.Parameter(torch.ones(3))])
    assert opt.defaults == {"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 0.0}
    assert isinstance(opt, torch.optim.Optimizer)


# -- schedulers ------------------------------------------------------------------------------------


def lr_trajectory(scheduler: Any, opt: torch.optim.Optimizer, metrics: list[float] | None = None) -> list[float]:
    """The lr before each of STEPS optimizer steps, the scheduler stepped after each."""
    out = []
    for i in range(STEPS):
        out.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[i])
    return out


def fresh_sgd(lr: float = 0.1, momentum: float = 0.9) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=lr, momentum=momentum)


def ours(registry: Registry, name: str, params: dict[str, Any], *, epochs: int = STEPS,
         steps_per_epoch: int = 7, metrics: list[float] | None = None) -> tuple[list[float], Any]:
    build = builder(registry, "scheduler", name, params)
    opt = fresh_sgd()
    return lr_trajectory(build(opt, epochs=epochs, steps_per_epoch=steps_per_epoch), opt, metrics), build


def theirs(make: Any, metrics: list[float] | None = None) -> list[float]:
    opt = fresh_sgd()
    return lr_trajectory(make(opt), opt, metrics)


#: (name, params, the torch scheduler it must match over STEPS epoch steps)
SCHEDULERS: list[tuple[str, dict[str, Any], Any]] = [
    ("step", {}, lambda o: lr_scheduler.StepLR(o, step_size=10, gamma=0.1)),
    ("step", {"step_size": 3, "gamma": 0.5}, lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    ("multistep", {"milestones": [2, 5, 11], "gamma": 0.3},
     lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 5, 11], gamma=0.3)),
    ("exponential", {}, lambda o: lr_scheduler.ExponentialLR(o, gamma=0.95)),
    ("exponential", {"gamma": 0.7}, lambda o: lr_scheduler.ExponentialLR(o, gamma=0.7)),
    ("cosine", {}, lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=STEPS)),
    ("cosine", {"T_max": 6, "eta_min": 0.01}, lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=6, eta_min=0.01)),
    ("onecycle", {}, lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=STEPS)),
    ("onecycle", {"max_lr": 0.5, "pct_start": 0.25, "anneal_strategy": "linear", "three_phase": True},
     lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=STEPS, pct_start=0.25,
                                       anneal_strategy="linear", three_phase=True)),
    ("warmup_cosine", {"warmup_steps": 5, "start_factor": 0.1, "eta_min": 0.001},
     lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=5),
                                             lr_scheduler.CosineAnnealingLR(o, T_max=STEPS - 5, eta_min=0.001)],
                                         milestones=[5])),
]


@pytest.mark.parametrize(("name", "params", "make"), SCHEDULERS,
                         ids=[f"{n}-{i}" for i, (n, *_) in enumerate(SCHEDULERS)])
def test_scheduler_matches_torch(registry: Registry, name: str, params: dict[str, Any], make: Any) -> None:
    got, build = ours(registry, name, params)
    assert build.interval == "epoch" and build.monitor is None
    want = theirs(make)
    assert got == pytest.approx(want, rel=1e-6, abs=1e-9), (got, want)


@pytest.mark.parametrize(("name", "params", "make"), [
    ("cosine", {}, lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=STEPS)),
    ("onecycle", {}, lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=STEPS)),
    ("warmup_cosine", {"warmup_steps": 4, "start_factor": 0.25},
     lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=4),
                                             lr_scheduler.CosineAnnealingLR(o, T_max=STEPS - 4)],
                                         milestones=[4])),
])
def test_lengths_default_to_the_run_in_optimizer_steps_with_interval_step(
    registry: Registry, name: str, params: dict[str, Any], make: Any
) -> None:
    got, build = ours(registry, name, {**params, "interval": "step"}, epochs=4, steps_per_epoch=5)
    assert build.interval == "step"
    assert got == pytest.approx(theirs(make), rel=1e-6, abs=1e-9)


def test_onecycle_cycles_the_momentum_like_torch(registry: Registry) -> None:
    build = builder(registry, "scheduler", "onecycle", {"max_lr": 0.2})
    mine, ref = fresh_sgd(), fresh_sgd()
    a, b = build(mine, epochs=STEPS, steps_per_epoch=1), lr_scheduler.OneCycleLR(ref, max_lr=0.2, total_steps=STEPS)
    for _ in range(STEPS):
        assert mine.param_groups[0]["momentum"] == pytest.approx(ref.param_groups[0]["momentum"])
        mine.step(), ref.step(), a.step(), b.step()


def test_constant_keeps_the_lr(registry: Registry) -> None:
    got, build = ours(registry, "constant", {})
    assert got == theirs(lambda o: lr_scheduler.LambdaLR(o, lambda _: 1.0)) == [0.1] * STEPS
    assert build.interval == "epoch"


def test_warmup_cosine_rises_from_zero_and_stays_at_eta_min(registry: Registry) -> None:
    got, _ = ours(registry, "warmup_cosine", {"warmup_steps": 4, "T_max": 12, "eta_min": 0.002})
    base, w, t_max, eta = 0.1, 4, 12, 0.002
    want = [base * t / w if t < w else eta + (base - eta) * (1 + math.cos(math.pi * min(1.0, (t - w) / (t_max - w)))) / 2
            for t in range(STEPS)]
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert got[0] == 0.0 and got[w] == pytest.approx(base) and got[t_max:] == [pytest.approx(eta)] * (STEPS - t_max)


def test_reduce_on_plateau_steps_with_the_monitored_metric(registry: Registry) -> None:
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8] * 2
    params = {"patience": 2, "factor": 0.5, "threshold": 0.01, "cooldown": 1}
    got, build = ours(registry, "reduce_on_plateau", params, metrics=metrics)
    assert build.monitor == "eval_loss" and build.interval == "epoch"
    want = theirs(lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=2, factor=0.5, threshold=0.01,
                                                           cooldown=1), metrics)
    assert got == pytest.approx(want) and min(got) < 0.1
    assert builder(registry, "scheduler", "reduce_on_plateau", {"monitor": "accuracy", "mode": "max"}).monitor == "accuracy"
    with pytest.raises(ValueError, match="interval must be 'epoch'"):
        registry.load(registry.resolve("scheduler", "reduce_on_plateau"))(interval="step")


@pytest.mark.parametrize("name", ["step", "cosine", "warmup_cosine", "onecycle", "reduce_on_plateau", "constant"])
def test_a_restored_scheduler_continues_the_same_lrs(registry: Registry, name: str) -> None:
    """As a resumed run: build the optimizer and the scheduler, then load both states."""
    params = {"warmup_cosine": {"warmup_steps": 3}, "step": {"step_size": 4}}.get(name, {})
    build = builder(registry, "scheduler", name, params)
    metrics = [1.0 / (1 + i % 5) for i in range(STEPS)] if build.monitor else None
    opt = fresh_sgd()
    sched = build(opt, epochs=STEPS, steps_per_epoch=1)
    full = lr_trajectory(sched, opt, metrics)
    opt = fresh_sgd()
    sched = build(opt, epochs=STEPS, steps_per_epoch=1)
    for i in range(8):
        opt.step()
        sched.step() if metrics is None else sched.step(metrics[i])
    opt2 = fresh_sgd()
    sched2 = build(opt2, epochs=STEPS, steps_per_epoch=1)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    rest = []
    for i in range(8, STEPS):
        rest.append(float(opt2.param_groups[0]["lr"]))
        opt2.step()
        sched2.step() if metrics is None else sched2.step(metrics[i])
    assert rest == pytest.approx(full[8:])


def test_the_manifest_matches_the_code() -> None:
    assert main(["manifest", "check", str(ROOT)]) == 0


def test_every_scheduler_declares_interval_with_default_epoch(registry: Registry) -> None:
    for comp in registry.components("scheduler"):
        if comp.dist != DIST:
            continue
        prop = comp.params_schema["properties"]["interval"]
        assert prop["default"] == "epoch" and set(prop["enum"]) <= {"step", "epoch"}, comp.name
        assert registry.load(comp)().interval == "epoch"
