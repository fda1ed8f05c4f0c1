"""Optimizers and schedulers are components: resolved through the registry, built by their plugin
(torchrack-optim), recorded; the digits demo trains exactly as it did when they were a built-in
table of torch.optim names."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from torchrack import Registry
from torchrack_runs._config import ConfigError, load_and_resolve, resolve_config

from ._cli import DIGITS, torchrack

#: `torchrack run examples/digits.toml --set run.epochs=2` (sgd + cosine) before optimizers and
#: schedulers were plugins (torch 2.13.0 CPU): every value, bit for bit.
DIGITS_2_EPOCHS = [
    {"accuracy": 0.6991643454038997, "ece": 0.06379991524896914, "eval_loss": 1.1218372450565561,
     "lr": 0.05, "nll": 0.8896700608022615, "train_loss": 1.295315879027933},
    {"accuracy": 0.9442896935933147, "ece": 0.11546471316502287, "eval_loss": 0.5407988603400653,
     "lr": 0.025, "nll": 0.2718273669171269, "train_loss": 0.5543605066804793},
]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(use_cache=False)


def small_config(extra: str, epochs: int = 2) -> str:
    """The digits dataset, 20% of it to train (12 steps of 32 per epoch), a tiny CNN."""
    return textwrap.dedent(f"""\
        schema_version = 1
        [run]
        name = "optim"
        epochs = {epochs}
        [data]
        dataset = {{ name = "digits", params = {{ test_fraction = 0.8 }} }}
        batch_size = 32
        [model]
        backbone = {{ name = "small_cnn", params = {{ in_channels = 1, widths = [8, 8] }} }}
        head = {{ name = "linear", params = {{ in_features = 8, num_classes = 10 }} }}
        [loss]
        name = "cross_entropy"
        [[metrics]]
        name = "accuracy"
        """) + textwrap.dedent(extra)


def run_and_show(tmp_path: Path, text: str, *args: str) -> dict[str, Any]:
    (tmp_path / "exp.toml").write_text(text)
    proc = torchrack("run", "exp.toml", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    shown = torchrack("runs", "show", "latest", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    record: dict[str, Any] = json.loads(shown.stdout)
    return record


# -- resolution (static, nothing imported) -------------------------------------------------------


def test_the_defaults_are_sgd_and_constant_from_the_plugin(registry: Registry) -> None:
    config: dict[str, Any] = tomllib_loads(small_config(""))
    resolved = resolve_config(config, registry)
    opt, sched = resolved.slot("optimizer"), resolved.slot("scheduler")
    assert opt.default and sched.default and opt.info and sched.info
    assert (opt.kind, opt.info.qualname, sched.kind, sched.info.qualname) == (
        "optimizer", "torchrack-optim:sgd", "scheduler", "torchrack-optim:constant")
    assert opt.params == {"lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0}
    assert resolved.scheduler == {"name": "constant", "params": {"interval": "epoch"}}
    assert "optimizer" not in resolved.config  # the config itself (and its hash) is as written


def test_optimizer_and_scheduler_resolve_like_components(registry: Registry) -> None:
    resolved = load_and_resolve(DIGITS, registry, [
        'optimizer={name = "torchrack-optim:adamw"}',
        'scheduler={name = "warmup_cosine", params = {interval = "step", warmup_steps = 10}}'])
    opt, sched = resolved.slot("optimizer"), resolved.slot("scheduler")
    assert opt.info and opt.info.qualname == "torchrack-optim:adamw" and not opt.default
    assert resolved.optimizer == {"name": "torchrack-optim:adamw", "params": {
        "lr": 0.001, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False}}
    assert sched.info and sched.info.qualname == "torchrack-optim:warmup_cosine"
    assert resolved.scheduler["params"] == {"warmup_steps": 10, "start_factor": 0.0, "T_max": None,
                                            "eta_min": 0.0, "interval": "step"}
    digits = load_and_resolve(DIGITS, registry)
    assert digits.optimizer == {"name": "sgd", "params": {"lr": 0.05, "momentum": 0.9, "nesterov": True,
                                                          "weight_decay": 0.0005}}
    assert digits.scheduler == {"name": "cosine", "params": {"T_max": None, "eta_min": 0.0, "interval": "epoch"}}


@pytest.mark.parametrize(("override", "needle"), [
    ("optimizer.params.lr=-1", "/optimizer/params/lr: expected a number >= 0, found -1"),
    ('optimizer.name="adamm"', "/optimizer/name: no optimizer named 'adamm'; did you mean 'adam'"),
    ('scheduler.params.interval="batch"', "/scheduler/params/interval: expected one of 'step', 'epoch'"),
    ('scheduler={name = "reduce_on_plateau", params = {interval = "step"}}',
     "/scheduler/params/interval: expected one of 'epoch', found 'step'"),
    ('optimizer.name="torchrack-losses:sgd"', "/optimizer/name: no optimizer named 'torchrack-losses:sgd'"),
])
def test_bad_optimizers_and_schedulers_are_refused_before_anything_runs(registry: Registry, override: str,
                                                                        needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_and_resolve(DIGITS, registry, [override])
    assert any(needle in p for p in err.value.problems), err.value.problems


def test_a_missing_default_says_where_it_comes_from(registry: Registry) -> None:
    without = Registry([p for p in registry.plugins if p.name != "torchrack-optim"], registry.torch_version,
                       registry.settings)
    with pytest.raises(ConfigError) as err:
        resolve_config(tomllib_loads(small_config("")), without)
    assert any("a config without [optimizer] uses 'sgd' from torchrack-optim: pip install torchrack-optim"
               in p for p in err.value.problems), err.value.problems


def tomllib_loads(text: str) -> dict[str, Any]:
    from torchrack_runs._toml import toml_loads

    return toml_loads(text)


# -- end to end ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_digits_trains_to_the_same_metrics_as_before_optimizers_were_plugins(tmp_path: Path) -> None:
    record = run_and_show(tmp_path, DIGITS.read_text(encoding="utf-8"), "--set", "run.epochs=2")
    # Same training to float32 precision: accuracy is exact; losses may differ in the last bits
    # because the optimizer now steps parameter groups (a different foreach batching).
    # rel=2e-5: the same arithmetic gives other last digits on another CPU (oneDNN/MKL kernels
    # pick AVX2 or AVX-512 paths: ~1e-6 apart); any change in the optimizer's math is >= 1e-3.
    assert [e["metrics"] for e in record["epochs"]] == [pytest.approx(m, rel=2e-5) for m in DIGITS_2_EPOCHS]
    assert [e["metrics"]["accuracy"] for e in record["epochs"]] == [m["accuracy"] for m in DIGITS_2_EPOCHS]
    assert record["final_metrics"] == pytest.approx({k: v for k, v in DIGITS_2_EPOCHS[-1].items()
                                                     if k not in ("lr", "train_loss")}, rel=2e-5)
    roles = {c["role"]: c for c in record["components"]}
    for role, name in (("optimizer", "sgd"), ("scheduler", "cosine")):
        assert roles[role]["kind"] == role and roles[role]["name"] == name
        assert roles[role]["distribution"] == "torchrack-optim" and len(roles[role]["files_sha256"]) == 64


@pytest.mark.slow
def test_adamw_with_a_per_step_warmup_cosine_trains_and_records(tmp_path: Path) -> None:
    text = small_config("""\
        [optimizer]
        name = "adamw"
        [scheduler]
        name = "warmup_cosine"
        params = { interval = "step", warmup_steps = 10 }
        """)
    record = run_and_show(tmp_path, text)
    assert record["status"] == "completed" and record["final_metrics"]["accuracy"] > 0.1
    roles = {c["role"]: c["name"] for c in record["components"]}
    assert (roles["optimizer"], roles["scheduler"]) == ("adamw", "warmup_cosine")
    steps = 12  # ceil(359 / 32) training samples of the 20% split
    # the lr each epoch starts with: 0 (warmup from start_factor 0), then the cosine at step 12 of 24
    lrs = [e["metrics"]["lr"] for e in record["epochs"]]
    progress = (steps - 10) / (2 * steps - 10)
    assert lrs == [0.0, pytest.approx(0.001 * (1 + math.cos(math.pi * progress)) / 2)]
    ckpt = torch.load(record["checkpoint"], map_location="cpu", weights_only=True)
    assert ckpt["scheduler"] == {"last_step": 2 * steps, "base_lrs": [0.001]}  # stepped per step
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == 0.0  # the cosine's end: eta_min
    assert ckpt["optimizer"]["param_groups"][0]["weight_decay"] == 0.01  # adamw's default


@pytest.mark.slow
def test_reduce_on_plateau_is_stepped_with_the_monitored_metric(tmp_path: Path) -> None:
    text = small_config("""\
        [optimizer]
        name = "sgd"
        params = { lr = 0.0001 }
        [scheduler]
        name = "reduce_on_plateau"
        params = { monitor = "accuracy", mode = "max", patience = 0, factor = 0.5 }
        """, epochs=3)
    record = run_and_show(tmp_path, text)
    # the lrs a torch ReduceLROnPlateau gives, stepped with the recorded accuracies
    accuracies = [e["metrics"]["accuracy"] for e in record["epochs"]]
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.0001)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5)
    want = []
    for acc in accuracies:
        want.append(opt.param_groups[0]["lr"])
        ref.step(acc)
    assert [e["metrics"]["lr"] for e in record["epochs"]] == want
    ckpt = torch.load(record["checkpoint"], map_location="cpu", weights_only=True)
    assert ckpt["scheduler"]["best"] == max(accuracies)
    bad = torchrack("run", "exp.toml", "--set", "scheduler.params.monitor=f1", cwd=tmp_path)
    assert bad.returncode == 1
    assert "monitors 'f1', which this run does not compute" in bad.stderr and "accuracy" in bad.stderr
    assert "Traceback" not in bad.stderr
