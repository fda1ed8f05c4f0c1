"""The digits demo with ``trackers = ["mlflow", "tensorboard"]``, through the real CLI: MlflowClient
reads back 12 epochs of accuracy and the component tags, TensorBoard's event reader the same
curves, and both agree with the run store.

It needs torchrack-runs, the demo's component plugins and torchrack-tensorboard; alone with the
core (the noxfile's isolation session) it is skipped, saying which are missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
DIGITS = ROOT / "examples" / "digits.toml"
NEEDED = ("torchrack_runs", "torchrack_datasets", "torchrack_augment", "torchrack_backbones",
          "torchrack_heads", "torchrack_losses", "torchrack_metrics", "torchrack_optim",
          "torchrack_tensorboard", "tensorboard")
MISSING = [m for m in NEEDED if importlib.util.find_spec(m) is None]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason="the digits demo with both trackers needs "
                       f"{', '.join(MISSING)} (not installed)"),
]


def _torchrack(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TORCHRACK_CACHE_DIR": str(cwd / ".cache"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    for key in ("TORCHRACK_STORE", "TORCHRACK_DENY", "TORCHRACK_ALLOW", "TORCHRACK_STRICT",
                "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(key, None)
    return subprocess.run([sys.executable, "-m", "torchrack", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def _artifact(client: Any, run_id: str, path: str, dest: Path) -> Any:
    local = client.download_artifacts(run_id, path, str(dest))
    return json.loads(Path(local).read_text())


def test_digits_demo_logs_to_mlflow_and_tensorboard(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "digits.toml"
    config.write_text('trackers = ["mlflow", "tensorboard"]\n' + DIGITS.read_text())
    done = _torchrack("run", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr.lower(), done.stderr
    record = json.loads(_torchrack("runs", "show", "latest", "--json", cwd=tmp_path).stdout)
    assert record["status"] == "completed" and not record.get("warnings")
    store_curve = [(e["epoch"], e["metrics"]["accuracy"]) for e in record["epochs"]]
    assert [step for step, _ in store_curve] == list(range(1, 13))  # the demo's 12 epochs

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / '.torchrack' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digits-small-cnn")
    assert experiment is not None
    [logged] = client.search_runs([experiment.experiment_id])
    assert logged.info.status == "FINISHED"
    history = sorted(client.get_metric_history(logged.info.run_id, "accuracy"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in history] == store_curve
    tags = logged.data.tags
    assert tags["torchrack.run_id"] == record["run_id"]
    assert tags["torchrack.config_sha256"] == record["config_sha256"]
    assert record["components"]
    for comp in record["components"]:
        role = comp["role"].replace("[", ".").replace("]", "")
        for fact in ("name", "version", "distribution"):
            assert tags[f"torchrack.component.{role}.{fact}"] == comp[fact], (role, fact)
    assert logged.data.params["model.backbone.params.widths"] == "[32, 64]"
    assert logged.data.params["run.epochs"] == "12"
    assert logged.data.metrics["final.accuracy"] == record["final_metrics"]["accuracy"]
    stored = _artifact(client, logged.info.run_id, "torchrack/run-record.json", tmp_path / "a")
    assert stored["run_id"] == record["run_id"] and stored["epochs"] == record["epochs"]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    [folder] = (tmp_path / ".torchrack" / "tensorboard").iterdir()
    assert folder.name == f"{record['run_id']}-digits-small-cnn"
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    tb_curve = [(e.step, e.value) for e in events.Scalars("accuracy")]
    assert [s for s, _ in tb_curve] == list(range(1, 13))
    assert [v for _, v in tb_curve] == pytest.approx([v for _, v in store_curve], rel=1e-6)  # float32
    assert {"train_loss", "eval_loss", "lr", "nll", "ece", "final/accuracy"} <= set(events.Tags()["scalars"])
