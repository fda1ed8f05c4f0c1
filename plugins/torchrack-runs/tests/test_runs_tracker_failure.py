"""A tracker that fails never fails or loses the run: its failures become warnings in the record.

The guard is checked twice: on a real store with the hooks called in the trainer's order (core +
torchrack-runs only), and end to end, a real `torchrack run` of the digits demo with a tracker
plugin that raises in every hook (skipped when the demo's component plugins are not installed).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from torchrack import TorchrackError, hookimpl
from torchrack.contracts import validate
from torchrack.hookspecs import plugin_manager
from torchrack_runs._hooks import call_hook
from torchrack_runs._runner import _build_tracker, _guarded, _TrackerWarnings
from torchrack_runs._store import RunStore
from torchrack_runs._tracker import StoreTracker

from ._store_helpers import SECRET, make_record

ROOT = Path(__file__).resolve().parents[3]
DIGITS = ROOT / "examples" / "digits.toml"

#: Every hook the trainer fires for a run, in its order (validate_pipeline comes before the run).
RUN_HOOKS = ["torchrack_run_start", "torchrack_epoch_start", "torchrack_train_step_end",
             "torchrack_epoch_end", "torchrack_checkpoint_saved", "torchrack_evaluation_end",
             "torchrack_run_end", "torchrack_run_record_finalized"]


@dataclass
class FakeRun:
    """What the trainer hands to hooks (the torchrack.Run protocol)."""

    name: str = "demo"
    config: dict[str, Any] = field(default_factory=lambda: make_record()["config"])
    config_sha256: str = "0" * 64
    components: list[dict[str, Any]] = field(default_factory=lambda: make_record()["components"])
    environment: dict[str, Any] = field(default_factory=lambda: make_record()["environment"])
    seed: int = 0
    resume_of: str | None = None
    id: str | None = None
    final_metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    run_dir: Path | None = None
    sensitive_paths: list[str] = field(default_factory=list)


class Raising:
    """A tracker that raises in each hook of ``failing`` (and records what it was called with)."""

    def __init__(self, failing: set[str]) -> None:
        self.failing = failing
        self.calls: list[str] = []

    def _maybe(self, hook: str) -> None:
        self.calls.append(hook)
        if hook in self.failing:
            raise ConnectionError(f"tracking server gone (token {SECRET})")

    @hookimpl
    def torchrack_run_start(self, run: Any, config: dict[str, Any]) -> None:
        self._maybe("torchrack_run_start")

    @hookimpl
    def torchrack_epoch_start(self, run: Any, epoch: int) -> None:
        self._maybe("torchrack_epoch_start")

    @hookimpl
    def torchrack_train_step_end(self, run: Any, epoch: int, step: int, loss: float) -> None:
        self._maybe("torchrack_train_step_end")

    @hookimpl
    def torchrack_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:  # no `run`
        self._maybe("torchrack_epoch_end")

    @hookimpl
    def torchrack_checkpoint_saved(self, run: Any, path: str, epoch: int) -> None:
        self._maybe("torchrack_checkpoint_saved")

    @hookimpl
    def torchrack_evaluation_end(self, run: Any, split: str, metrics: dict[str, Any]) -> None:
        self._maybe("torchrack_evaluation_end")

    @hookimpl
    def torchrack_run_end(self, run: Any, status: str, error: str | None) -> None:
        self._maybe("torchrack_run_end")

    @hookimpl
    def torchrack_run_record_finalized(self, run: Any, record: dict[str, Any]) -> None:
        self._maybe("torchrack_run_record_finalized")


def _manager(store: RunStore, tracker: Any, name: str = "acme-trackers:flaky") -> Any:
    """The store tracker and ``tracker`` guarded, as Runner.plugin_manager registers them."""
    pm = plugin_manager()
    pm.register(StoreTracker(store), name="torchrack-store")
    warnings = _TrackerWarnings(store, frozenset({SECRET}))
    pm.register(_guarded(pm, tracker, name, warnings), name=name)
    pm.register(warnings, name="torchrack-tracker-warnings")
    return pm


def _train(pm: Any, run: FakeRun, store: RunStore, epochs: int = 2, steps: int = 3) -> dict[str, Any]:
    """Fire the hooks as the trainer does; return the finished record."""
    call_hook(pm, "torchrack_run_start", run=run, config=run.config)
    for epoch in range(epochs):
        call_hook(pm, "torchrack_epoch_start", run=run, epoch=epoch)
        for step in range(steps):
            call_hook(pm, "torchrack_train_step_end", run=run, epoch=epoch, step=step, loss=1.0)
        call_hook(pm, "torchrack_epoch_end", run=run, epoch=epoch, metrics={"accuracy": 0.5 + epoch / 10})
        run.checkpoint = f"ckpt-{epoch}.pt"
        call_hook(pm, "torchrack_checkpoint_saved", run=run, path=run.checkpoint, epoch=epoch)
    run.final_metrics = {"accuracy": 0.6}
    call_hook(pm, "torchrack_evaluation_end", run=run, split="test", metrics=run.final_metrics)
    call_hook(pm, "torchrack_run_end", run=run, status="completed", error=None)
    assert run.id is not None
    call_hook(pm, "torchrack_run_record_finalized", run=run, record=store.get(run.id))
    return store.get(run.id)


@pytest.mark.parametrize("hook", RUN_HOOKS)
def test_a_tracker_failing_in_one_hook_leaves_a_warning_and_a_completed_run(
    tmp_path: Path, hook: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    store.seal({SECRET})
    tracker = Raising({hook})
    record = _train(_manager(store, tracker), FakeRun(), store)
    assert record["status"] == "completed" and record["error"] is None
    assert [e["epoch"] for e in record["epochs"]] == [1, 2]  # nothing lost
    assert record["final_metrics"] == {"accuracy": 0.6}
    assert set(tracker.calls) == set(RUN_HOOKS)  # it was called again after failing
    [warning] = store.get(record["run_id"])["warnings"]
    assert warning["source"] == "acme-trackers:flaky" and warning["hook"] == hook
    assert "ConnectionError" in warning["message"] and "tracking server gone" in warning["message"]
    assert SECRET not in json.dumps(warning) and SECRET not in capsys.readouterr().err
    per_run = {"torchrack_epoch_start": 2, "torchrack_train_step_end": 6, "torchrack_epoch_end": 2,
               "torchrack_checkpoint_saved": 2}
    if hook != "torchrack_run_record_finalized":  # after run_end: its first failure is all there is
        assert warning["count"] == per_run.get(hook, 1)
    assert not validate("run-record", store.get(record["run_id"]))


def test_every_hook_failing_gives_one_warning_each(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    record = _train(_manager(store, Raising(set(RUN_HOOKS))), FakeRun(), store)
    assert record["status"] == "completed"
    warnings = store.get(record["run_id"])["warnings"]
    assert [w["hook"] for w in warnings] == RUN_HOOKS
    assert {w["source"] for w in warnings} == {"acme-trackers:flaky"}
    err = capsys.readouterr().err
    assert err.count("torchrack: warning: tracker acme-trackers:flaky failed in") == len(RUN_HOOKS)


def test_a_tracker_that_works_leaves_no_warning(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    tracker = Raising(set())
    record = _train(_manager(store, tracker), FakeRun(), store)
    assert record["status"] == "completed" and "warnings" not in record
    assert tracker.calls.count("torchrack_train_step_end") == 6


def test_ctrl_c_in_a_tracker_still_stops_the_run(tmp_path: Path) -> None:
    class Interrupting:
        @hookimpl
        def torchrack_epoch_start(self, run: Any, epoch: int) -> None:
            raise KeyboardInterrupt

    store = RunStore(tmp_path / "runs.sqlite")
    pm = _manager(store, Interrupting())
    with pytest.raises(KeyboardInterrupt):
        _train(pm, FakeRun(), store)


def test_the_store_tracker_is_not_guarded(tmp_path: Path) -> None:
    """The run store's own failures are the run's: they are not turned into warnings."""
    store = RunStore(tmp_path / "runs.sqlite")
    pm = _manager(store, Raising(set()))
    run = FakeRun()
    call_hook(pm, "torchrack_run_start", run=run, config=run.config)
    run.id = "999"  # a run the store does not have: its tracker raises, and that is not swallowed
    with pytest.raises(TorchrackError, match="999"):
        call_hook(pm, "torchrack_epoch_end", run=run, epoch=0, metrics={"accuracy": 0.5})


# -- params: factories and modules ----------------------------------------------------------------


class WithParams:
    def __init__(self, log_dir: str = "tb", every: int = 1) -> None:
        if every < 1:
            raise ValueError(f"every: expected 1 or more, found {every}")
        self.log_dir, self.every = log_dir, every


def test_a_class_entry_point_is_built_with_its_params() -> None:
    tracker = _build_tracker(WithParams, "acme:tb", {"log_dir": "out", "every": 2}, "x.toml: /trackers/0/params")
    assert isinstance(tracker, WithParams) and (tracker.log_dir, tracker.every) == ("out", 2)


@pytest.mark.parametrize(("params", "expected"), [
    ({"logdir": "x"}, "unexpected keyword argument 'logdir' (its params: log_dir, every)"),
    ({"every": 0}, "every: expected 1 or more, found 0"),
])
def test_refused_params_name_the_tracker_and_the_config_key(params: dict[str, Any], expected: str) -> None:
    with pytest.raises(TorchrackError) as info:
        _build_tracker(WithParams, "acme:tb", params, "x.toml: /trackers/1/params")
    assert str(info.value).startswith("x.toml: /trackers/1/params: tracker acme:tb refused its params")
    assert expected in str(info.value)


def test_a_hooks_module_takes_no_params() -> None:
    import types

    module = types.ModuleType("acme_hooks")
    assert _build_tracker(module, "acme:hooks", {}, "x.toml: /trackers/0/params") is module
    with pytest.raises(TorchrackError, match=r"x.toml: /trackers/0/params: tracker acme:hooks is a "
                                             r"hooks module and takes no params \(given: x\)"):
        _build_tracker(module, "acme:hooks", {"x": 1}, "x.toml: /trackers/0/params")


# -- end to end: `torchrack run` with a failing tracker plugin --------------------------------------

FAILING = '''
from torchrack import hookimpl


def _fail(where):
    raise RuntimeError("planted tracker failure in " + where)


class Tracker:
    def __init__(self, label="x"):
        self.label = label

    @hookimpl
    def torchrack_validate_pipeline(self, config, components):
        _fail("validate_pipeline")
'''

_DEMO_PACKAGES = ("torchrack_datasets", "torchrack_augment", "torchrack_backbones", "torchrack_heads",
                  "torchrack_losses", "torchrack_metrics", "torchrack_optim")


def _demo_missing() -> list[str]:
    return [p for p in _DEMO_PACKAGES if importlib.util.find_spec(p) is None]


def _write_tracker_dist(site: Path) -> None:
    code = FAILING + "".join(
        f"\n    @hookimpl\n    def {hook}(self, run):\n        _fail({hook[10:]!r})\n" for hook in RUN_HOOKS)
    pkg = site / "flaky_trackers"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(code)
    (pkg / "torchrack-manifest.json").write_text(json.dumps(
        {"manifest_version": 1, "api": ">=1,<2", "components": {},
         "hooks": {"flaky": {"summary": "raises in every hook (tests)"}}}))
    info = site / "flaky_trackers-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: flaky-trackers\nVersion: 1.0\nRequires-Dist: torchrack>=0.1\n")
    (info / "entry_points.txt").write_text("[torchrack.hooks]\nflaky = flaky_trackers:Tracker\n")
    (info / "RECORD").write_text("")


def _torchrack(*args: str, cwd: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TORCHRACK_CACHE_DIR": str(cwd / ".cache"), "PYTHONPATH": str(site)}
    for key in ("TORCHRACK_STORE", "TORCHRACK_DENY", "TORCHRACK_ALLOW", "TORCHRACK_STRICT"):
        env.pop(key, None)
    return subprocess.run([sys.executable, "-m", "torchrack", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.skipif(bool(_demo_missing()), reason=f"the digits demo needs the first-party component "
                    f"plugins; not installed: {', '.join(_demo_missing())}")
def test_torchrack_run_completes_when_a_tracker_raises_in_every_hook(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _write_tracker_dist(site)
    config = tmp_path / "exp.toml"
    config.write_text(DIGITS.read_text().replace("epochs = 12", "epochs = 1")
                      + textwrap.dedent('''
                          [[trackers]]
                          name = "flaky"
                          params = { label = "e2e" }
                      '''))
    done = _torchrack("run", str(config), cwd=tmp_path, site=site)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for hook in ["torchrack_validate_pipeline", *RUN_HOOKS]:
        assert f"tracker flaky-trackers:flaky failed in {hook}: RuntimeError" in done.stderr, hook
    shown = _torchrack("runs", "show", "latest", "--json", cwd=tmp_path, site=site)
    record = json.loads(shown.stdout)
    assert record["status"] == "completed" and record["error"] is None
    assert len(record["epochs"]) == 1 and "accuracy" in record["final_metrics"]
    assert [(w["source"], w["hook"]) for w in record["warnings"]] == [
        ("flaky-trackers:flaky", hook) for hook in RUN_HOOKS]
    assert all("planted tracker failure" in w["message"] for w in record["warnings"])
    # params a tracker refuses are a config error before anything runs, naming the key
    config.write_text(config.read_text().replace('label = "e2e"', 'lable = "e2e"'))
    bad = _torchrack("run", str(config), cwd=tmp_path, site=site)
    assert bad.returncode == 1
    assert f"{config}: /trackers/0/params: tracker flaky-trackers:flaky refused its params" in bad.stderr
    assert "'lable' (its params: label)" in bad.stderr and "Traceback" not in bad.stderr
    assert len(json.loads(_torchrack("runs", "list", "--json", cwd=tmp_path, site=site).stdout)) == 1
