"""[alerts]: a metric past a threshold at an epoch, or a non-finite loss, ends the run failed with
a clear reason, recorded, and fires the torchrack_alert hook of a hooks plugin (a notifier)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from torchrack_runs._alerts import Alerts

from ._cli import torchrack
from .test_runs_strategies import SMALL

_NOTIFIER = '''
import json, os
from torchrack import hookimpl

@hookimpl
def torchrack_alert(run, alert):
    with open(os.environ["ALERTS_OUT"], "a") as fh:
        fh.write(json.dumps({"run": run.id, **alert}) + "\\n")
'''


def _notifier_site(tmp_path: Path) -> Path:
    """A hooks plugin ``notify`` (distribution notify-hooks) that appends each alert to a file."""
    site = tmp_path / "site"
    (site / "notify_hooks").mkdir(parents=True)
    (site / "notify_hooks" / "__init__.py").write_text(_NOTIFIER)
    (site / "notify_hooks" / "torchrack-manifest.json").write_text(json.dumps(
        {"manifest_version": 1, "api": ">=1,<2", "components": {},
         "hooks": {"notify": {"summary": "writes alerts to a file (tests)"}}}))
    info = site / "notify_hooks-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: notify-hooks\nVersion: 1.0\nRequires-Dist: torchrack>=0.1\n")
    (info / "entry_points.txt").write_text("[torchrack.hooks]\nnotify = notify_hooks\n")
    (info / "RECORD").write_text("")
    return site


def _run(tmp_path: Path, text: str) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    site = _notifier_site(tmp_path)
    out = tmp_path / "alerts.jsonl"
    env = {"PYTHONPATH": str(site), "ALERTS_OUT": str(out)}
    (tmp_path / "exp.toml").write_text(text + '\n[[trackers]]\nname = "notify"\n')
    proc = torchrack("run", "exp.toml", cwd=tmp_path, env=env)
    shown = torchrack("runs", "show", "latest", "--json", cwd=tmp_path, env=env)
    assert shown.returncode == 0, shown.stderr
    alerts = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return proc, json.loads(shown.stdout), alerts


@pytest.mark.slow
def test_a_metric_past_its_threshold_ends_the_run_failed_and_notifies(tmp_path: Path) -> None:
    # accuracy is above 0 at every epoch: checked from epoch 2, the run stops after epoch 2 of 4.
    text = SMALL.format(epochs=4, batch=64) + (
        "\n[[alerts.metrics]]\nmetric = \"accuracy\"\nabove = 0.0\nfrom_epoch = 2\n")
    proc, rec, alerts = _run(tmp_path, text)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "alert: accuracy" in proc.stderr and "is above 0 at epoch 2" in proc.stderr
    assert "[[alerts.metrics]] entry 1" in proc.stderr
    assert rec["status"] == "failed" and "is above 0 at epoch 2" in rec["error"]
    assert [e["epoch"] for e in rec["epochs"]] == [1, 2]  # the epoch that fired is recorded
    assert rec["stopped"]["by"] == "alert" and rec["stopped"]["epoch"] == 2
    [alert] = alerts
    assert alert["run"] == rec["run_id"] and alert["kind"] == "metric" and alert["epoch"] == 2
    assert alert["metric"] == "accuracy" and alert["threshold"] == {"above": 0.0}
    assert alert["value"] == pytest.approx(rec["epochs"][1]["metrics"]["accuracy"])


@pytest.mark.slow
def test_a_non_finite_loss_fires_the_alert_hook_once(tmp_path: Path) -> None:
    proc, rec, alerts = _run(tmp_path, SMALL.format(epochs=3, batch=32).replace("lr = 0.1", "lr = 1e30"))
    assert proc.returncode == 1 and rec["status"] == "failed"
    [alert] = alerts
    assert alert["kind"] == "non_finite" and alert["epoch"] == 1 and alert["step"] == rec["stopped"]["step"]
    assert alert["message"].startswith("alert: the ") and "non-finite at epoch 1" in alert["message"]


@pytest.mark.slow
def test_alerts_non_finite_false_stops_without_an_alert(tmp_path: Path) -> None:
    text = SMALL.format(epochs=3, batch=32).replace("lr = 0.1", "lr = 1e30") + "\n[alerts]\nnon_finite = false\n"
    proc, rec, alerts = _run(tmp_path, text)
    assert proc.returncode == 1 and rec["stopped"]["by"] == "non_finite" and alerts == []


def test_a_watched_metric_the_run_does_not_compute_is_named() -> None:
    alerts = Alerts.from_config({"alerts": {"metrics": [{"metric": "acc", "below": 0.5}]}})
    with pytest.raises(Exception, match=r"watches 'acc', which this run does not compute; the "
                                         r"metrics of an epoch are: train_loss, accuracy"):
        alerts.check_epoch(1, {"train_loss": 1.0, "accuracy": 0.4})


def test_thresholds_below_above_and_from_epoch() -> None:
    alerts = Alerts.from_config({"alerts": {"metrics": [
        {"metric": "accuracy", "below": 0.5, "from_epoch": 3},
        {"metric": "eval_loss", "above": 2.0}]}})
    assert alerts.check_epoch(2, {"accuracy": 0.1, "eval_loss": 1.0}) is None  # before from_epoch
    fired = alerts.check_epoch(3, {"accuracy": 0.1, "eval_loss": 1.0})
    assert fired is not None and fired["metric"] == "accuracy" and fired["threshold"] == {"below": 0.5}
    fired = alerts.check_epoch(1, {"accuracy": 0.9, "eval_loss": float("nan")})  # NaN fails both sides
    assert fired is not None and fired["metric"] == "eval_loss"
    assert alerts.check_epoch(5, {"accuracy": 0.5, "eval_loss": 2.0}) is None  # the limits themselves pass


@pytest.mark.parametrize(("table", "expected"), [
    ('[[alerts.metrics]]\nmetric = "accuracy"\n', "alerts/metrics/0"),
    ('[[alerts.metrics]]\nmetric = "accuracy"\nbelow = "high"\n', "alerts/metrics/0/below"),
    ('[alerts]\nnon_finit = true\n', "non_finit"),
])
def test_bad_alert_tables_are_config_errors(tmp_path: Path, table: str, expected: str) -> None:
    (tmp_path / "exp.toml").write_text(SMALL.format(epochs=1, batch=64) + "\n" + table)
    proc = torchrack("validate", "exp.toml", "--static", cwd=tmp_path)
    assert proc.returncode == 1 and expected in proc.stderr and "Traceback" not in proc.stderr
