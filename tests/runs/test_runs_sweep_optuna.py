"""``method = "optuna"``: TPE over lr and label smoothing, trials pruned on their epoch metrics;
every trial and its pruning recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ._cli import torchrack
from ._sweep_helpers import BASE, show_json, sweep_file

pytestmark = pytest.mark.slow

OPTUNA = """
[sweep]
method = "optuna"
trials = 8
objective = "accuracy"
pruning = { startup_trials = 2 }
[sweep.space]
"optimizer.params.lr" = { low = 0.001, high = 0.3, log = true }
"loss.params.label_smoothing" = { low = 0.0, high = 0.3 }
"""


def test_an_optuna_sweep_records_every_trial_and_its_pruning(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    path = sweep_file(tmp_path, OPTUNA, base=BASE.replace("epochs = 1", "epochs = 3"))
    proc = torchrack("sweep", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    sweep = show_json(tmp_path)
    trials = sweep["trials"]
    assert sweep["method"] == "optuna" and sweep["status"] == "completed"
    assert [t["trial"] for t in trials] == list(range(1, 9))
    assert len({json.dumps(t["point"], sort_keys=True) for t in trials}) == 8
    for t in trials:
        assert 0.001 <= t["point"]["optimizer.params.lr"] <= 0.3
        assert 0.0 <= t["point"]["loss.params.label_smoothing"] <= 0.3
        assert t["status"] in ("completed", "pruned") and t["run_id"] is not None
    statuses = [t["status"] for t in trials]
    # The first two (startup_trials) are never pruned; with these seeds optuna prunes some later.
    assert statuses[:2] == ["completed", "completed"] and "pruned" in statuses
    for t in trials:
        record = json.loads(torchrack("runs", "show", t["run_id"], "--json", cwd=tmp_path).stdout)
        assert record["sweep"]["trial"] == t["trial"]
        assert record["status"] == "completed"  # a pruned run stopped early, as early stopping does
        if t["status"] == "pruned":
            assert record["stopped"]["by"] == "optuna"
            assert "median pruner" in record["stopped"]["reason"]
            assert len(record["epochs"]) < 3
        else:
            assert not record.get("stopped") and len(record["epochs"]) == 3
    best = sweep["best"]
    completed = [t["objective"] for t in trials if t["status"] == "completed"]
    assert best["mean"] == max(completed)
    shown = torchrack("sweep", "show", "latest", cwd=tmp_path).stdout
    assert "1 pruned" in shown and "optuna" in shown.splitlines()[0]


def test_optuna_with_ray_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    path = sweep_file(tmp_path, OPTUNA)
    proc = torchrack("sweep", str(path), "--executor", "ray", cwd=tmp_path)
    assert proc.returncode == 1
    assert 'method = "optuna" runs on the local executor' in proc.stderr
    assert not (tmp_path / ".torchrack").exists()
