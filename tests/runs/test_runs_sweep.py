"""``torchrack sweep SWEEP.toml``: grid and random sweeps on local workers, recorded in the run store.

Each trial is an ordinary run tagged with its sweep and point; the sweep is in the same store;
a failed trial is recorded failed and the others go on; the CPU threads are shared among the
workers; a killed sweep resumes with no trial run twice and the same final table.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ._cli import torchrack
from ._sweep_helpers import runs_of, show_json, sweep_file, table_of

pytestmark = pytest.mark.slow

GRID = """
[sweep]
objective = "accuracy"
seeds = [0, 1]
[sweep.space]
"optimizer.params.lr" = [0.02, 0.1]
"model.backbone" = [
    { name = "mlp", params = { in_channels = 1, widths = [64] } },
    { name = "small_cnn", params = { in_channels = 1, widths = [16, 64] } },
]
"""


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    cwd = tmp_path_factory.mktemp("grid")
    proc = torchrack("sweep", str(sweep_file(cwd, GRID)), "--jobs", "2", "--set", "data.batch_size=64",
                     cwd=cwd)
    return cwd, proc


def test_grid_runs_every_point_at_every_seed_as_tagged_runs(grid_sweep) -> None:
    cwd, proc = grid_sweep
    assert proc.returncode == 0, proc.stderr
    sweep = show_json(cwd)
    assert sweep["status"] == "completed" and sweep["method"] == "grid"
    trials = sweep["trials"]
    # 2 lrs x 2 backbones x 2 seeds, point-major, the last key varying fastest.
    assert [(t["point_index"], t["seed"]) for t in trials] == [(i, s) for i in range(4) for s in (0, 1)]
    assert [t["point"]["optimizer.params.lr"] for t in trials[::2]] == [0.02, 0.02, 0.1, 0.1]
    assert [t["point"]["model.backbone"]["name"] for t in trials[::2]] == ["mlp", "small_cnn"] * 2
    assert all(t["status"] == "completed" and 0.0 < t["objective"] <= 1.0 for t in trials)
    runs = {r["id"]: r for r in runs_of(cwd / ".torchrack" / "runs.sqlite")}
    assert len(runs) == 8
    for t in trials:
        record = runs[t["run_id"]]
        assert record["status"] == "completed"
        assert record["sweep"] == {"id": sweep["sweep_id"], "trial": t["trial"], "point": t["point"],
                                   "seed": t["seed"]}


def test_each_trial_config_has_its_point_seed_and_the_set_overrides(grid_sweep) -> None:
    cwd, _ = grid_sweep
    sweep = show_json(cwd)
    for t in sweep["trials"]:
        proc = torchrack("runs", "show", t["run_id"], "--json", cwd=cwd)
        record = json.loads(proc.stdout)
        config = record["config"]
        assert config["run"]["seed"] == t["seed"] == record["seed"]
        assert config["optimizer"]["params"]["lr"] == t["point"]["optimizer.params.lr"]
        assert config["model"]["backbone"]["name"] == t["point"]["model.backbone"]["name"]
        assert config["model"]["backbone"]["params"]["widths"] == t["point"]["model.backbone"]["params"]["widths"]
        assert config["data"]["batch_size"] == 64  # --set applies to every trial
        assert record["name"] == f"tiny-t{t['trial']}"
        # Two workers on this machine share its CPUs: neither gets more than its share.
        cpus = len(os.sched_getaffinity(0))
        assert record["environment"]["accelerator"]["threads"] == max(1, cpus // 2)


def test_the_run_prints_progress_and_the_final_table(grid_sweep) -> None:
    _, proc = grid_sweep
    assert "checked 4 point(s)" in proc.stderr
    assert "sweep: 8/8 done, 0 running, 0 failed, ETA 0:00" in proc.stderr
    assert "running" in proc.stderr and "ETA" in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("sweep 1 (tiny): grid, accuracy (maximize), completed")
    assert "ACCURACY (MEAN +- STD)" in lines[1] and "model.backbone" in lines[1]
    assert len([line for line in lines[2:] if line.strip()]) == 4


def test_same_seed_same_point_gives_the_same_objective_as_a_plain_run(grid_sweep, tmp_path: Path) -> None:
    cwd, _ = grid_sweep
    sweep = show_json(cwd)
    first = sweep["trials"][0]
    config = Path(cwd / ".torchrack" / "sweeps" / sweep["sweep_id"] / "trial-1.toml")
    assert config.is_file()
    proc = torchrack("run", str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    again = torchrack("runs", "show", "latest", "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["final_metrics"]["accuracy"] == first["objective"]


def test_random_sweep_draws_its_trials_from_ranges_and_lists(tmp_path: Path) -> None:
    text = """
    [sweep]
    method = "random"
    trials = 3
    sampler_seed = 7
    objective = "accuracy"
    [sweep.space]
    "optimizer.params.lr" = { low = 0.01, high = 0.2, log = true }
    "data.batch_size" = [32, 64]
    """
    proc = torchrack("sweep", str(sweep_file(tmp_path, text)), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    sweep = show_json(tmp_path)
    points = [t["point"] for t in sweep["trials"]]
    assert len(points) == 3
    assert all(0.01 <= p["optimizer.params.lr"] <= 0.2 and p["data.batch_size"] in (32, 64) for p in points)
    assert len({p["optimizer.params.lr"] for p in points}) == 3
    assert all(t["status"] == "completed" for t in sweep["trials"])


def test_a_failing_trial_is_recorded_failed_and_the_others_go_on(tmp_path: Path) -> None:
    # lr 1e30 passes every check (it is a valid number), then the loss is not finite at once.
    text = """
    [sweep]
    objective = "accuracy"
    [sweep.space]
    "optimizer.params.lr" = [1e30, 0.1]
    """
    proc = torchrack("sweep", str(sweep_file(tmp_path, text)), cwd=tmp_path)
    assert proc.returncode == 1
    assert "trial 1 (optimizer.params.lr = 1e+30, seed 0) failed:" in proc.stderr
    assert "Traceback" not in proc.stderr
    sweep = show_json(tmp_path)
    assert sweep["status"] == "failed"
    first, second = sweep["trials"]
    assert first["status"] == "failed" and first["error"] and first["run_id"] is not None
    assert second["status"] == "completed" and second["objective"] > 0.1
    assert sweep["best"]["point"] == {"optimizer.params.lr": 0.1}
    shown = torchrack("sweep", "show", sweep["sweep_id"], cwd=tmp_path)
    assert "trial 1 (seed 0, optimizer.params.lr = 1e+30): failed" in shown.stdout


def _wait_completed(store: Path, count: int, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the sweep ended before it could be killed"
        if store.is_file():
            conn = sqlite3.connect(store, timeout=30)
            try:
                done = conn.execute("SELECT COUNT(*) FROM sweep_trials WHERE status = 'completed'"
                                    ).fetchone()[0]
            except sqlite3.OperationalError:  # the tables are not there yet
                done = 0
            finally:
                conn.close()
            if done >= count:
                return
        time.sleep(0.2)
    raise AssertionError(f"no {count} completed trial(s) within {timeout} s")


def test_a_killed_sweep_resumes_without_running_a_trial_twice(tmp_path: Path) -> None:
    text = """
    [sweep]
    objective = "accuracy"
    seeds = [0, 1]
    [sweep.space]
    "optimizer.params.lr" = [0.05, 0.1]
    """
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    whole.mkdir()
    cut.mkdir()
    proc = torchrack("sweep", str(sweep_file(whole, text, base=_two_epochs())), cwd=whole)
    assert proc.returncode == 0, proc.stderr
    expected = table_of(show_json(whole))

    env = {**os.environ, "TORCHRACK_CACHE_DIR": str(cut / ".cache")}
    env.pop("TORCHRACK_STORE", None)
    store = cut / ".torchrack" / "runs.sqlite"
    killed = subprocess.Popen([sys.executable, "-m", "torchrack", "sweep",
                               str(sweep_file(cut, text, base=_two_epochs()))],
                              cwd=cut, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_completed(store, 2, killed)
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=60)
    before = show_json(cut)
    assert before["status"] == "interrupted"
    kept = {t["trial"]: t["run_id"] for t in before["trials"] if t["status"] == "completed"}
    assert len(kept) >= 2
    time.sleep(1.0)  # the worker dies with its sweep (PR_SET_PDEATHSIG)

    resumed = torchrack("sweep", "--resume", before["sweep_id"], cwd=cut)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming sweep {before['sweep_id']}" in resumed.stderr
    after = show_json(cut)
    assert after["status"] == "completed"
    assert table_of(after) == expected
    # The trials completed before the kill kept their runs, which were not run again.
    for trial, run_id in kept.items():
        assert after["trials"][trial - 1]["run_id"] == run_id
    runs = runs_of(store)
    completed = [r for r in runs if r["status"] == "completed"]
    assert sorted(r["sweep"]["trial"] for r in completed) == [1, 2, 3, 4]
    for r in completed:
        if r["sweep"]["trial"] in kept:
            assert not r["timings"].get("resumed_at")


def _two_epochs() -> str:
    from ._sweep_helpers import BASE

    return BASE.replace("epochs = 1", "epochs = 2")


def test_resuming_a_completed_sweep_runs_nothing_and_changes_are_refused(grid_sweep) -> None:
    cwd, _ = grid_sweep
    before = show_json(cwd)
    store = cwd / ".torchrack" / "runs.sqlite"
    count = len(runs_of(store))
    proc = torchrack("sweep", "--resume", "latest", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "sweep: 8/8 done, 0 running, 0 failed" in proc.stderr
    assert len(runs_of(store)) == count
    assert table_of(show_json(cwd)) == table_of(before)
    proc = torchrack("sweep", "--resume", "1", "--set", "run.epochs=2", cwd=cwd)
    assert proc.returncode == 1
    assert "--set with --resume: a sweep resumes with its recorded config" in proc.stderr
    other = sweep_file(cwd, GRID.replace("0.02", "0.03"), name="other.toml")
    proc = torchrack("sweep", str(other), "--resume", "1", cwd=cwd)
    assert proc.returncode == 1
    assert f"--resume 1: {other} (with its --set) is not the sweep that was recorded" in proc.stderr
    proc = torchrack("sweep", "--resume", "9", cwd=cwd)
    assert proc.returncode == 1 and "no sweep '9' in the store" in proc.stderr


@pytest.mark.cuda
def test_devices_run_one_trial_per_gpu_each_seeing_only_its_own(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (torch.cuda.is_available() is False)")
    last = torch.cuda.device_count() - 1
    text = """
    [accelerator]
    name = "cuda"
    [sweep]
    objective = "accuracy"
    [sweep.space]
    "optimizer.params.lr" = [0.05, 0.1]
    """
    proc = torchrack("sweep", str(sweep_file(tmp_path, text)), "--devices", f"cuda:{last}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 at a time" in proc.stderr
    for t in show_json(tmp_path)["trials"]:
        record = json.loads(torchrack("runs", "show", t["run_id"], "--json", cwd=tmp_path).stdout)
        # CUDA_VISIBLE_DEVICES holds only the trial's device, which the trial sees as cuda:0.
        assert record["environment"]["accelerator"]["device"] == "cuda:0"
        assert t["status"] == "completed"
