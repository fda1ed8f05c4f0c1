"""Training strategies of the ``[train]`` table, as a user relies on them: gradient accumulation
equals the large batch, clipping and the EMA follow their formulas, parameter groups and freezing
do what they say, early stopping and best-k checkpoints are recorded and usable
(``eval --checkpoint``), a non-finite loss stops the run naming epoch and step, and a run is
reproduced from ``runs show --config`` alone."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchrack_runs._strategies import (
    EMA,
    BestCheckpoints,
    Freezer,
    Monitor,
    Stepper,
    TrainSettings,
    apply_multipliers,
    check_accumulation,
    default_mode,
    param_groups,
)
from torchrack_runs._toml import toml_dumps, toml_loads

from ._cli import torchrack


class _Model(torch.nn.Module):
    """backbone -> head, as the trainer builds it: a conv + batch norm backbone, a linear head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1),
                                            torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(8, 1, 6, 6, generator=g), torch.randint(0, 3, (8,), generator=g)


# -- parameter groups, multipliers, freezing -------------------------------------------------------


def test_lr_multipliers_scale_each_role_and_norm_and_bias_get_no_decay() -> None:
    model = _Model()
    s = TrainSettings.from_config({"train": {"lr_multipliers": {"model.backbone": 0.1},
                                             "no_decay_norm_bias": True}})
    groups = param_groups(model, s)
    opt = torch.optim.SGD(groups, lr=0.5, weight_decay=0.01)
    apply_multipliers(opt)
    by = {(g["role"], g["weight_decay"]): g for g in opt.param_groups}
    conv_w = model.backbone[0].weight
    assert [p is conv_w for p in by[("model.backbone", 0.01)]["params"]] == [True]
    no_decay = by[("model.backbone", 0.0)]["params"]
    bn = model.backbone[1]
    assert {id(p) for p in no_decay} == {id(model.backbone[0].bias), id(bn.weight), id(bn.bias)}
    assert by[("model.backbone", 0.01)]["lr"] == pytest.approx(0.05)
    assert by[("model.head", 0.01)]["lr"] == pytest.approx(0.5)
    assert [id(p) for p in by[("model.head", 0.0)]["params"]] == [id(model.head.bias)]
    # every trainable parameter is in exactly one group
    seen = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(seen) == sorted(id(p) for p in model.parameters())


def test_a_frozen_backbone_keeps_weights_and_batch_norm_statistics_then_trains() -> None:
    model = _Model()
    s = TrainSettings.from_config({"train": {"freeze": {"model.backbone": 1}}})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    freezer = Freezer(model, s)
    x, y = _batch()

    def one_epoch(epoch: int) -> None:
        model.train()
        freezer.start_epoch(epoch)
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    before = {k: v.clone() for k, v in model.state_dict().items()}
    one_epoch(0)
    after0 = model.state_dict()
    for key in before:
        if key.startswith("backbone."):
            assert torch.equal(before[key], after0[key]), f"{key} changed while frozen"
    assert not torch.equal(before["head.weight"], after0["head.weight"])
    one_epoch(1)
    after1 = model.state_dict()
    assert not torch.equal(before["backbone.0.weight"], after1["backbone.0.weight"])
    assert not torch.equal(before["backbone.1.running_mean"], after1["backbone.1.running_mean"])


# -- clipping and EMA: against their formulas ------------------------------------------------------


@pytest.mark.parametrize("max_norm", [1e-3, 1e3])
def test_clip_grad_norm_limits_the_update_of_plain_sgd_to_the_norm(max_norm: float) -> None:
    model = _Model()
    x, y = _batch()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    stepper = Stepper(opt, TrainSettings(clip_grad_norm=max_norm))
    before = [p.detach().clone() for p in model.parameters()]
    torch.nn.functional.cross_entropy(model(x), y).backward()
    grads = [p.grad.detach().clone() for p in model.parameters()]
    norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
    stepper.step()
    deltas = [b - p.detach() for b, p in zip(before, model.parameters(), strict=True)]
    scale = min(1.0, max_norm / (norm + 1e-6))  # the update of SGD(lr=1) is the clipped gradient
    for d, g in zip(deltas, grads, strict=True):
        torch.testing.assert_close(d, g * scale, rtol=1e-4, atol=1e-7)
    assert float(stepper.last_norm) == pytest.approx(norm, rel=1e-5)


def test_clip_grad_value_clamps_each_element() -> None:
    model = _Model()
    x, y = _batch()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    before = [p.detach().clone() for p in model.parameters()]
    torch.nn.functional.cross_entropy(model(x), y).backward()
    grads = [p.grad.detach().clone() for p in model.parameters()]
    Stepper(opt, TrainSettings(clip_grad_value=0.01)).step()
    for b, p, g in zip(before, model.parameters(), grads, strict=True):
        torch.testing.assert_close(b - p.detach(), g.clamp(-0.01, 0.01))


def test_ema_is_the_exponential_average_of_the_weights_after_each_step() -> None:
    model = _Model()
    x, y = _batch()
    decay = 0.75
    ema = EMA(model, decay)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    stepper = Stepper(opt, TrainSettings(), ema)
    w = model.head.weight
    expected = w.detach().clone()
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        stepper.step()
        expected = decay * expected + (1 - decay) * w.detach()  # by hand, after each step
    trained = w.detach().clone()
    with ema.swapped():
        torch.testing.assert_close(model.head.weight.detach(), expected)
    assert torch.equal(model.head.weight.detach(), trained)  # the trained weights are back


# -- monitors and best-k ---------------------------------------------------------------------------


def test_monitor_modes_min_delta_and_the_default_mode() -> None:
    m = Monitor("accuracy", "max", min_delta=0.01)
    assert m.update(0.5, 1) and not m.update(0.505, 2) and m.update(0.52, 3)
    assert (m.best, m.best_epoch, m.wait) == (0.52, 3, 0)
    lo = Monitor("eval_loss", "min")
    assert lo.update(1.0, 1) and lo.update(0.9, 2) and not lo.update(0.95, 3) and lo.wait == 1
    assert default_mode("eval_loss") == "min" and default_mode("accuracy") == "max"
    with pytest.raises(Exception, match="monitors 'acc'.*accuracy"):
        Monitor("acc", "max").value({"accuracy": 0.3, "lr": 0.1}, "early_stopping")


def test_best_k_keeps_the_k_best_and_deletes_the_rest(tmp_path: Path) -> None:
    best = BestCheckpoints("accuracy", "max", keep_best=2)
    path = lambda e: tmp_path / f"epoch-{e}.pt"  # noqa: E731
    assert best.offer(1, 0.5, path) == (str(path(1)), [])
    assert best.offer(2, 0.7, path) == (str(path(2)), [])
    assert best.offer(3, 0.6, path) == (str(path(3)), [str(path(1))])
    assert best.offer(4, 0.1, path) == (None, [])
    assert best.offer(5, float("nan"), path) == (None, [])
    recs = best.records()
    assert [(r["epoch"], r["best"]) for r in recs] == [(2, True), (3, False)]


# -- the resolved config as TOML -------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


def _no_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _no_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_none(v) for v in value if v is not None]
    return value


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=10), _json, max_size=5))
def test_toml_dumps_reads_back_equal_without_nulls(config: dict[str, Any]) -> None:
    config = _no_none(config)
    # TOML arrays of tables mixed with other values in one array cannot be written inline as
    # tables; the writer writes them inline, which TOML reads back as the same list
    assert toml_loads(toml_dumps(config)) == config


# -- end to end on the digits ----------------------------------------------------------------------

SMALL = textwrap.dedent("""\
    schema_version = 1
    [run]
    name = "strategies"
    epochs = {epochs}
    [data]
    dataset = {{ name = "digits", params = {{ test_fraction = 0.8 }} }}
    batch_size = {batch}
    [model]
    backbone = {{ name = "mlp", params = {{ widths = [32] }} }}
    head = {{ name = "linear", params = {{ in_features = 32, num_classes = 10 }} }}
    [loss]
    name = "cross_entropy"
    [optimizer]
    name = "sgd"
    params = {{ lr = 0.1 }}
    [scheduler]
    name = "constant"
    [[metrics]]
    name = "accuracy"
    """)


def _run(tmp_path: Path, text: str, *args: str, ok: bool = True) -> dict[str, Any]:
    (tmp_path / "exp.toml").write_text(text)
    proc = torchrack("run", "exp.toml", *args, cwd=tmp_path)
    assert (proc.returncode == 0) == ok, proc.stderr
    shown = torchrack("runs", "show", "latest", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    record: dict[str, Any] = json.loads(shown.stdout)
    record["_stderr"] = proc.stderr
    return record


def _weights(record: dict[str, Any]) -> dict[str, torch.Tensor]:
    return torch.load(record["checkpoint"], weights_only=True)["model"]


@pytest.mark.slow
def test_accumulating_k_micro_batches_equals_one_batch_of_k_times_the_size(tmp_path: Path) -> None:
    """Plain SGD, no batch norm, 2 epochs of 359 samples: batches of 64 (the last one partial)
    against 4 micro-batches of 16 accumulated; the weights agree to float tolerance."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    big = _run(tmp_path / "a", SMALL.format(epochs=2, batch=64))
    acc = _run(tmp_path / "b", SMALL.format(epochs=2, batch=16) + "[train]\naccumulate = 4\n")
    wa, wb = _weights(big), _weights(acc)
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wb[key], wa[key], rtol=1e-4, atol=1e-5)
    assert acc["resolved_config"]["train"]["accumulate"] == 4
    assert big["final_metrics"]["accuracy"] == pytest.approx(acc["final_metrics"]["accuracy"], abs=0.01)


@pytest.mark.slow
def test_early_stopping_stops_records_why_and_the_shown_config_reproduces_the_run(tmp_path: Path) -> None:
    text = SMALL.format(epochs=8, batch=32).replace("lr = 0.1", "lr = 0.1, momentum = 0.9") + textwrap.dedent("""\
        [train]
        early_stopping = { monitor = "accuracy", patience = 0, min_delta = 0.05 }
        checkpoints = { monitor = "eval_loss", keep_best = 1 }
        clip_grad_norm = 5.0
        """)
    first = _run(tmp_path, text)
    stopped = first["stopped"]
    assert stopped["by"] == "early_stopping" and 2 <= stopped["epoch"] < 8
    assert "accuracy did not improve" in stopped["reason"] and "patience 0" in stopped["reason"]
    assert [e["epoch"] for e in first["epochs"]] == list(range(1, stopped["epoch"] + 1))
    assert first["status"] == "completed"
    assert f"stopped after epoch {stopped['epoch']}/8" in first["_stderr"]
    # one kept checkpoint, the best by eval_loss, and it is the file eval --checkpoint best uses
    (kept,) = first["checkpoints"]
    best_epoch = min(first["epochs"], key=lambda e: e["metrics"]["eval_loss"])["epoch"]
    assert kept["best"] and kept["epoch"] == best_epoch and Path(kept["path"]).is_file()
    assert sorted(p.name for p in Path(kept["path"]).parent.glob("epoch-*.pt")) == [f"epoch-{best_epoch}.pt"]
    ev = torchrack("eval", "latest", "--checkpoint", "best", cwd=tmp_path)
    assert ev.returncode == 0 and f"(checkpoint epoch {best_epoch})" in ev.stdout, ev.stderr
    best_loss = next(e for e in first["epochs"] if e["epoch"] == best_epoch)["metrics"]["eval_loss"]
    assert f"eval_loss {best_loss:.4f}" in ev.stdout
    bad = torchrack("eval", "latest", "--checkpoint", "99", cwd=tmp_path)
    assert bad.returncode == 1 and "no checkpoint of epoch 99" in bad.stderr
    assert f"it has {best_epoch}" in bad.stderr and "Traceback" not in bad.stderr

    # reproduced from the record alone
    shown = torchrack("runs", "show", "latest", "--config", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    (tmp_path / "again.toml").write_text(shown.stdout)
    again_cfg = toml_loads(shown.stdout)
    assert again_cfg["optimizer"]["params"]["nesterov"] is False  # defaults written out
    assert again_cfg["train"]["early_stopping"]["mode"] == "max"
    proc = torchrack("run", "again.toml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    second = json.loads(torchrack("runs", "show", "latest", "--json", cwd=tmp_path).stdout)
    assert second["run_id"] != first["run_id"]
    assert second["final_metrics"] == first["final_metrics"]
    assert second["stopped"] == first["stopped"]


@pytest.mark.slow
def test_a_non_finite_loss_fails_the_run_at_once_naming_epoch_and_step(tmp_path: Path) -> None:
    text = SMALL.format(epochs=3, batch=32).replace("lr = 0.1", "lr = 1e30")
    rec = _run(tmp_path, text, ok=False)
    assert rec["status"] == "failed"
    stopped = rec["stopped"]
    assert stopped["by"] == "non_finite" and stopped["epoch"] == 1 and stopped["step"] >= 1
    assert f"non-finite at epoch 1, step {stopped['step']}" in rec["error"]
    assert "Traceback" not in rec["_stderr"] and "clip_grad_norm" in rec["_stderr"]
    assert rec["epochs"] == []  # it stopped inside the first epoch


@pytest.mark.slow
def test_progress_without_a_tty_prints_rate_and_eta_per_epoch_numbered_from_one(tmp_path: Path) -> None:
    rec = _run(tmp_path, SMALL.format(epochs=2, batch=32))
    lines = [ln for ln in rec["_stderr"].splitlines() if ln.startswith("epoch ")]
    assert [ln.split(":")[0] for ln in lines] == ["epoch 1/2", "epoch 2/2"]
    assert "samples/s, ETA" in lines[0] and "samples/s)" in lines[1]
    assert [e["epoch"] for e in rec["epochs"]] == [1, 2] and rec["checkpoint_epoch"] == 2
    events = [json.loads(ln) for ln in
              (Path(rec["checkpoint"]).parent / "events.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in events if e["type"] == "epoch_end"] == [1, 2]


def test_accumulation_on_an_accelerator_without_the_two_halves_is_refused_naming_it() -> None:
    from torchrack.accelerator import CPUAccelerator

    class Minimal:  # the minimum accelerator contract: backward_step only
        name = "minimal"

        def backward_step(self, loss: Any, optimizer: Any) -> None:
            raise AssertionError("not called")

    check_accumulation(Minimal(), 1)
    check_accumulation(CPUAccelerator(), 4)
    with pytest.raises(Exception, match=r"accumulate = 4: accelerator minimal has no backward\(\)"):
        check_accumulation(Minimal(), 4)


_BUDGET = """
from torchrack.hookspecs import hookimpl


@hookimpl
def torchrack_epoch_end(run, epoch, metrics):
    if epoch == 1:
        run.request_stop("budget spent", by="budget-hooks")
"""


@pytest.mark.slow
def test_a_hooks_plugin_ends_the_run_with_request_stop_as_the_author_guide_shows(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "budget_hooks").mkdir(parents=True)
    (site / "budget_hooks" / "__init__.py").write_text(_BUDGET)
    (site / "budget_hooks" / "torchrack-manifest.json").write_text(json.dumps(
        {"manifest_version": 1, "api": ">=1,<2", "components": {},
         "hooks": {"budget": {"summary": "stops after epoch 2 (tests)"}}}))
    info = site / "budget_hooks-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: budget-hooks\nVersion: 1.0\nRequires-Dist: torchrack>=0.1\n")
    (info / "entry_points.txt").write_text("[torchrack.hooks]\nbudget = budget_hooks\n")
    (info / "RECORD").write_text("")
    (tmp_path / "exp.toml").write_text(SMALL.format(epochs=5, batch=64) + '\n[[trackers]]\nname = "budget"\n')
    proc = torchrack("run", "exp.toml", cwd=tmp_path, env={"PYTHONPATH": str(site)})
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(torchrack("runs", "show", "latest", "--json", cwd=tmp_path,
                               env={"PYTHONPATH": str(site)}).stdout)
    assert rec["status"] == "completed"
    assert rec["stopped"] == {"epoch": 2, "step": None, "reason": "budget spent", "by": "budget-hooks"}
    assert [e["epoch"] for e in rec["epochs"]] == [1, 2]
