"""``--executor ray``: trials as Ray tasks on a local Ray instance started by the test, their runs
written back by the driver; the same trial results as the local executor.

Skipped when ray cannot be imported, unless TORCHRACK_REQUIRE_RAY=1 (CI sets it): then that is
a failure.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._cli import torchrack
from ._sweep_helpers import runs_of, show_json, sweep_file, table_of

GRID = """
[sweep]
objective = "accuracy"
seeds = [0, 1]
[sweep.space]
"optimizer.params.lr" = [0.05, 0.1]
"""


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        if os.environ.get("TORCHRACK_REQUIRE_RAY") == "1":
            pytest.fail(f"TORCHRACK_REQUIRE_RAY=1, but ray cannot be imported: {exc}")
        pytest.skip(f"ray cannot be imported ({exc}); TORCHRACK_REQUIRE_RAY=1 makes this a failure")
    return ray


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray = _ray()
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_trials_give_the_same_results_as_local_workers(local_ray: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from torchrack_runs._sweep_run import SweepOptions, run_sweep

    local, remote = tmp_path / "local", tmp_path / "ray"
    local.mkdir()
    remote.mkdir()
    proc = torchrack("sweep", str(sweep_file(local, GRID)), "--jobs", "2", cwd=local)
    assert proc.returncode == 0, proc.stderr
    expected = show_json(local)

    monkeypatch.chdir(remote)
    monkeypatch.setenv("TORCHRACK_CACHE_DIR", str(remote / ".cache"))
    lines: list[str] = []
    store = remote / ".torchrack" / "runs.sqlite"
    sweep = run_sweep(str(sweep_file(remote, GRID)), [], SweepOptions(executor="ray"),
                      store_path=store, log=lines.append)
    assert sweep["status"] == "completed", sweep["error"]
    assert table_of(sweep) == table_of(expected)
    assert sweep["best"]["point"] == expected["best"]["point"]
    assert "on ray" in lines[1] and lines[-1].startswith("sweep: 4/4 done, 0 running, 0 failed")
    # Each trial's run was written into the sweep's store by the driver, tagged, with its epochs.
    runs = {r["id"]: r for r in runs_of(store)}
    assert len(runs) == 4
    for t in sweep["trials"]:
        assert runs[t["run_id"]]["status"] == "completed"
        assert runs[t["run_id"]]["sweep"] == {"id": sweep["sweep_id"], "trial": t["trial"],
                                              "point": t["point"], "seed": t["seed"]}
    shown = torchrack("runs", "show", sweep["trials"][0]["run_id"], "--json", cwd=remote)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert [e["epoch"] for e in record["epochs"]] == [1]
    assert record["final_metrics"]["accuracy"] == sweep["trials"][0]["objective"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_ray_address_that_does_not_answer_is_a_clear_error(tmp_path: Path) -> None:
    _ray()
    path = sweep_file(tmp_path, GRID)
    port = _closed_port()
    proc = torchrack("sweep", str(path), "--executor", "ray", "--address", f"127.0.0.1:{port}",
                     cwd=tmp_path, timeout=60)
    assert proc.returncode == 1
    assert f"--address 127.0.0.1:{port}: no Ray cluster answers there" in proc.stderr
    assert "ray start --head" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / ".torchrack").exists()
    proc = torchrack("sweep", str(path), "--executor", "ray", "--address", "nonsense", cwd=tmp_path)
    assert proc.returncode == 1 and "expected host:port" in proc.stderr


@pytest.mark.slow
def test_a_failing_ray_trial_is_recorded_failed_and_the_others_go_on(local_ray: Any, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from torchrack_runs._sweep_run import SweepOptions, run_sweep

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCHRACK_CACHE_DIR", str(tmp_path / ".cache"))
    text = '[sweep]\nobjective = "accuracy"\n[sweep.space]\n"optimizer.params.lr" = [1e30, 0.1]\n'
    store = tmp_path / "runs.sqlite"
    sweep = run_sweep(str(sweep_file(tmp_path, text)), [], SweepOptions(executor="ray", jobs=1),
                      store_path=store, log=None)
    assert sweep["status"] == "failed"
    first, second = sweep["trials"]
    assert first["status"] == "failed" and first["error"]
    assert second["status"] == "completed" and second["objective"] > 0.1
    runs = {r["id"]: r for r in runs_of(store)}
    assert runs[first["run_id"]]["status"] == "failed"  # the failed run came back too
    assert runs[second["run_id"]]["status"] == "completed"
