"""compile_scope = "step": the whole training step of examples/digits.toml and of the benchmark
config compiles with zero graph breaks and follows the eager loss trajectory; unknown scopes and
what the whole step cannot compile are refused with one clear line."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torchrack import Registry

ROOT = Path(__file__).resolve().parents[2]
STEPS, BATCH = 4, 16
BACKEND = "aot_eager"  # dynamo's capture and the autograd trace, without inductor's code generation


def _digits() -> dict[str, Any]:
    import tomllib

    return tomllib.loads((ROOT / "examples/digits.toml").read_text())


def _benchmark() -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("modular_vs_monolithic", ROOT / "benchmarks/modular_vs_monolithic.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.config(mod.Variant("fp32", "cpu"), 8, 8, STEPS * BATCH + 5, 0)  # type: ignore[no-any-return]


def _side(cfg: dict[str, Any], scope: str, device: str = "cpu") -> tuple[Any, Any, Any, Any, Any]:
    from torchrack_runs._config import resolve_config
    from torchrack_runs._optim import build_optimizer
    from torchrack_runs._trainer import build, build_accelerator
    from torchrack_runs._whole_step import WholeStep

    cfg = {**cfg, "accelerator": {"name": device, "params": {"compile_scope": scope}}}
    registry = Registry.discover()
    resolved = resolve_config(cfg, registry, "test")
    acc = build_accelerator(resolved, registry)
    assert acc.compile_scope == scope
    pipe = build(resolved, registry, 0, acc)
    x, y = pipe.dataset.load("train")
    opt = build_optimizer(resolved, registry, pipe.model.parameters())
    pipe.forward = acc.prepare_model(pipe.model)
    pipe.model.train()
    whole = WholeStep(pipe, opt, backend=BACKEND) if scope == "step" else None
    return pipe, opt, x, y, whole


def _trajectory(cfg: dict[str, Any], scope: str, perm: torch.Tensor, log: list[str],
                device: str = "cpu") -> list[float]:
    from torchrack_runs._trainer import train_epoch

    pipe, opt, x, y, whole = _side(cfg, scope, device)
    perm = perm.to(x.device)
    if whole is not None:
        whole.log = log.append
    losses: list[float] = []
    torch.manual_seed(7)  # the compiled step's augmentations draw from the default RNG
    train_epoch(pipe, opt, x, y, perm, batch_size=BATCH, steps=STEPS + 1,
                generator=torch.Generator(device=pipe.accelerator.device).manual_seed(7), whole_step=whole,
                on_step=lambda step, value: losses.append(value))
    return losses


def _digits_mixing() -> dict[str, Any]:
    cfg = _digits()
    cfg["augment"] = [*cfg["augment"], {"name": "mixup", "params": {"num_classes": 10}},
                      {"name": "cutmix", "params": {"num_classes": 10}}]
    return cfg


@pytest.mark.parametrize("make", [_digits, _benchmark, _digits_mixing], ids=["digits", "benchmark", "mixing"])
def test_the_whole_step_compiles_without_a_graph_break(make: Any) -> None:
    import torch._dynamo

    pipe, opt, x, y, whole = _side(make(), "step")
    torch._dynamo.reset()
    explanation = whole.explain(x[:BATCH], y[:BATCH])
    assert explanation.graph_break_count == 0, [str(r.reason) for r in explanation.break_reasons]
    assert explanation.graph_count == 1
    torch._dynamo.reset()


@pytest.mark.parametrize("make", [_digits, _benchmark], ids=["digits", "benchmark"])
def test_the_whole_step_follows_the_eager_loss_trajectory(make: Any) -> None:
    import torch._dynamo

    cfg = make()
    perm = torch.arange(STEPS * BATCH + 5)  # the last batch is partial: 5 samples
    eager = _trajectory(cfg, "model", perm, [])
    torch._dynamo.reset()
    log: list[str] = []
    compiled = _trajectory(cfg, "step", perm, log)
    torch._dynamo.reset()
    assert len(eager) == len(compiled) == STEPS + 1
    assert eager[0] != eager[-1]  # it trains
    assert compiled == pytest.approx(eager, rel=1e-4, abs=1e-5)
    assert len(log) == 1 and "runs eagerly" in log[0] and "[5," in log[0], log  # said once


def test_two_compiled_runs_give_the_same_losses() -> None:
    import torch._dynamo

    perm = torch.arange(STEPS * BATCH)
    first = _trajectory(_benchmark(), "step", perm, [])
    torch._dynamo.reset()
    second = _trajectory(_benchmark(), "step", perm, [])
    torch._dynamo.reset()
    assert first == second


def test_an_unknown_scope_is_one_line_naming_the_key_and_the_choices() -> None:
    from torchrack_accelerators.cpu import CPUAccelerator
    from torchrack_accelerators.cuda import CUDAAccelerator
    from torchrack_accelerators.ddp import DDPAccelerator

    for cls in (CPUAccelerator, CUDAAccelerator):
        with pytest.raises(ValueError) as info:
            cls(compile_scope="graph")
        assert str(info.value).endswith("compile_scope must be one of 'model', 'step', found 'graph'")
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="compile_scope 'step' is not supported by ddp"):
        DDPAccelerator(compile_scope="step")


def test_what_the_whole_step_cannot_compile_is_refused() -> None:
    from torchrack_runs._whole_step import WholeStep, WholeStepError

    pipe, _, _, _, _ = _side(_digits(), "step")
    adam = torch.optim.Adam(pipe.model.parameters())
    with pytest.raises(WholeStepError, match=r"torch.optim.SGD only .* found Adam; use compile_scope = 'model'"):
        WholeStep(pipe, adam)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_whole_step_on_cuda_follows_the_eager_loss_trajectory() -> None:
    import torch._dynamo

    perm = torch.arange(STEPS * BATCH + 5)
    eager = _trajectory(_benchmark(), "model", perm, [], "cuda")
    torch._dynamo.reset()
    compiled = _trajectory(_benchmark(), "step", perm, [], "cuda")
    torch._dynamo.reset()
    assert compiled == pytest.approx(eager, rel=1e-3, abs=1e-4)


@pytest.mark.slow
def test_a_run_with_the_whole_step_compiled_is_recorded_and_repeatable(tmp_path: Path) -> None:
    import json

    from ._cli import DIGITS, torchrack

    step = ["--set", 'accelerator={name = "cpu", params = {compile_scope = "step"}}', "--set", "run.epochs=2"]
    env = {"TORCHRACK_COMPILE_BACKEND": BACKEND}
    records = []
    for _ in range(2):
        proc = torchrack("run", str(DIGITS), *step, cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
        assert "each training step is compiled as one graph" in proc.stderr
        assert proc.stderr.count("runs eagerly, with no recompile") == 1, proc.stderr  # said once
        shown = torchrack("runs", "show", "latest", "--json", cwd=tmp_path)
        records.append(json.loads(shown.stdout))
    first, second = records
    assert first["status"] == "completed"
    assert first["environment"]["accelerator"]["compile_scope"] == "step"
    assert [e["metrics"] for e in first["epochs"]] == [e["metrics"] for e in second["epochs"]]
    assert first["epochs"][1]["metrics"]["train_loss"] < first["epochs"][0]["metrics"]["train_loss"]
    clipped = torchrack("run", str(DIGITS), *step, "--set", "train.clip_grad_norm=1.0", cwd=tmp_path, env=env)
    assert clipped.returncode == 1
    assert "compile_scope = 'step' does not compile gradient clipping or EMA" in clipped.stderr
    assert "Traceback" not in clipped.stderr


def test_a_new_learning_rate_needs_no_recompile() -> None:
    import torch._dynamo

    pipe, opt, x, y, whole = _side(_digits(), "step")
    torch._dynamo.reset()
    whole.step(x[:BATCH], y[:BATCH], None)  # compiles
    for lr in (0.01, 0.002):  # as a scheduler sets it
        for group in opt.param_groups:
            group["lr"] = lr
        with torch._dynamo.config.patch(error_on_recompile=True):
            whole.step(x[BATCH:2 * BATCH], y[BATCH:2 * BATCH], None)
        assert float(whole.lrs[0]) == pytest.approx(lr)
    torch._dynamo.reset()
