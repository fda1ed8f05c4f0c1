"""The MLflow tracker on its own: its hooks called as the trainer calls them, with a small fake
run, against a real MLflow tracking store (SQLite), read back with MlflowClient.

These need only the core and this plugin (the noxfile's isolation session).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from torchrack_mlflow import MlflowTracker, MlflowTrackerError

SECRET = "mlf-secret-7c1e9b2a-never-logged"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No telemetry, and no tracking URI or experiment from the environment of the test run."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One SQLite tracking store for this module's tests (creating one takes seconds); each test
    logs into an experiment of its own."""
    yield f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


COMPONENTS = [
    {"role": "data.dataset", "kind": "dataset", "name": "digits", "version": "1.0.0",
     "distribution": "torchrack-datasets", "distribution_version": "0.1.0"},
    {"role": "augment[0]", "kind": "augmentation", "name": "random_translate", "version": "1.2.0",
     "distribution": "acme-augment", "distribution_version": "3.1.4"},
]


@dataclass
class FakeRun:
    """The run object hooks receive (torchrack.Run), as the trainer fills it."""

    run_dir: Path | None
    name: str = "digits-small-cnn"
    id: str | None = "7"
    config: dict[str, Any] = field(default_factory=lambda: {
        "run": {"name": "digits-small-cnn", "epochs": 3},
        "data": {"dataset": {"name": "digits", "params": {"api_token": SECRET}}},
        "augment": [{"name": "random_translate", "params": {"max_shift": 1}}]})
    resolved_config: dict[str, Any] | None = field(default_factory=lambda: {
        "run": {"name": "digits-small-cnn", "epochs": 3, "seed": 0},
        "data": {"dataset": {"name": "digits", "params": {"api_token": "***"}}, "batch_size": 32},
        "model": {"backbone": {"name": "small_cnn", "params": {"widths": [32, 64]}}},
        "augment": [{"name": "random_translate", "params": {"max_shift": 1}}]})
    config_sha256: str = "ab" * 32
    components: list[dict[str, Any]] = field(default_factory=lambda: [dict(c) for c in COMPONENTS])
    environment: dict[str, Any] = field(default_factory=lambda: {"torch": "2.13.0", "python": "3.11"})
    seed: int = 0
    resume_of: str | None = None
    final_metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    sensitive_paths: list[str] = field(default_factory=list)


ACCURACY = [0.61, 0.83, 0.92]


def _train(tracker: MlflowTracker, run: FakeRun, *, status: str = "completed",
           error: str | None = None, epochs: range = range(3)) -> None:
    """The hooks in the trainer's order: 0-based epochs, a checkpoint after each."""
    tracker.torchrack_run_start(run)
    for epoch in epochs:
        tracker.torchrack_epoch_start(run)
        tracker.torchrack_epoch_end(run, epoch, {"accuracy": ACCURACY[epoch], "train_loss": 1.0 / (epoch + 1),
                                                 "lr": 0.05, "confusion_matrix": [[1, 0], [0, 1]],
                                                 "nll": float("nan")})
        if run.run_dir is not None:
            ckpt = run.run_dir / "checkpoint.pt"
            ckpt.write_bytes(b"weights of epoch %d" % epoch)
            run.checkpoint = str(ckpt)
    run.final_metrics = {"accuracy": ACCURACY[epochs[-1]] if epochs else 0.0}
    tracker.torchrack_evaluation_end(run, run.final_metrics)
    tracker.torchrack_run_end(run, status, error)
    tracker.torchrack_run_record_finalized(run, {"run_id": run.id, "status": status, "note": "record"})


def _run_dir(root: Path, run_id: str = "7") -> Path:
    path = root / ".torchrack" / "runs" / run_id
    path.mkdir(parents=True)
    return path


def _only_run(uri: str, experiment: str) -> Any:
    client = _client(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r}"
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    return runs[0]


def _artifact_text(uri: str, run_id: str, path: str, dest: Path) -> str:
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(dest),
                                                tracking_uri=uri)
    return Path(local).read_text()


def test_a_run_is_logged_and_reads_back_with_mlflowclient(tmp_path: Path, db: str) -> None:
    run = FakeRun(_run_dir(tmp_path))
    _train(MlflowTracker(tracking_uri=db, experiment="read-back"), run)
    logged = _only_run(db, "read-back")
    client = _client(db)
    assert logged.info.status == "FINISHED" and logged.info.run_name == "digits-small-cnn-7"
    history = client.get_metric_history(logged.info.run_id, "accuracy")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (1, 0.61), (2, 0.83), (3, 0.92)]  # epochs numbered 1..N
    assert logged.data.metrics["final.accuracy"] == 0.92
    assert not any(k.startswith(("confusion_matrix", "nll")) for k in logged.data.metrics)
    tags = logged.data.tags
    assert tags["torchrack.run_id"] == "7" and tags["torchrack.config_sha256"] == "ab" * 32
    assert tags["torchrack.component.data.dataset.name"] == "digits"
    assert tags["torchrack.component.augment.0.version"] == "1.2.0"
    assert tags["torchrack.component.augment.0.distribution"] == "acme-augment"
    assert tags["torchrack.component.augment.0.distribution_version"] == "3.1.4"
    params = logged.data.params
    assert params["run.epochs"] == "3" and params["data.batch_size"] == "32"
    assert params["augment.0.params.max_shift"] == "1"  # lists of tables by index
    assert params["model.backbone.params.widths"] == "[32, 64]"  # a list of values as one
    assert params["data.dataset.params.api_token"] == "***"
    config = json.loads(_artifact_text(db, logged.info.run_id, "torchrack/config.json", tmp_path / "a"))
    assert config == run.resolved_config
    record = json.loads(_artifact_text(db, logged.info.run_id, "torchrack/run-record.json", tmp_path / "b"))
    assert record["note"] == "record"
    assert [a.path for a in client.list_artifacts(logged.info.run_id)] == ["torchrack"]  # no checkpoint
    everything = json.dumps([tags, params, config])
    assert SECRET not in everything


def test_the_default_store_is_beside_the_run_store(tmp_path: Path) -> None:
    run = FakeRun(_run_dir(tmp_path))
    tracker = MlflowTracker(log_checkpoint=True)
    tracker.torchrack_run_start(FakeRun(None))  # at run start the run has no folder yet
    assert not (tmp_path / ".torchrack" / "mlflow.db").exists()
    _train(tracker, run)
    uri = f"sqlite:///{tmp_path / '.torchrack' / 'mlflow.db'}"
    logged = _only_run(uri, "digits-small-cnn")  # the experiment: the config's run name
    assert logged.info.artifact_uri.startswith((tmp_path / ".torchrack" / "mlartifacts").as_uri())
    ckpt = _artifact_text(uri, logged.info.run_id, "checkpoint/checkpoint.pt", tmp_path / "c")
    assert ckpt == "weights of epoch 2"


def test_mlflow_tracking_uri_from_the_environment(tmp_path: Path, db: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", db)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    _train(MlflowTracker(), FakeRun(_run_dir(tmp_path)))
    assert _only_run(db, "from-env").info.status == "FINISHED"
    assert not (tmp_path / ".torchrack" / "mlflow.db").exists()


def test_a_failed_run_ends_failed_with_its_error_scrubbed(tmp_path: Path, db: str) -> None:
    run = FakeRun(_run_dir(tmp_path))
    _train(MlflowTracker(tracking_uri=db, experiment="failed"), run, status="failed",
           error=f"ComponentError: could not reach the dataset with token {SECRET}", epochs=range(1))
    logged = _only_run(db, "failed")
    assert logged.info.status == "FAILED"
    assert "could not reach the dataset" in logged.data.tags["torchrack.error"]
    assert SECRET not in logged.data.tags["torchrack.error"]


def test_a_resumed_run_continues_the_same_mlflow_run(tmp_path: Path, db: str) -> None:
    run_dir = _run_dir(tmp_path)
    tracker = MlflowTracker(tracking_uri=db, experiment="resumed")
    _train(tracker, FakeRun(run_dir), status="interrupted", epochs=range(2))
    assert _only_run(db, "resumed").info.status == "KILLED"
    resumed = FakeRun(run_dir, resume_of="7")
    _train(MlflowTracker(tracking_uri=db, experiment="resumed"), resumed, epochs=range(2, 3))
    logged = _only_run(db, "resumed")
    assert logged.info.status == "FINISHED"
    steps = sorted(m.step for m in _client(db).get_metric_history(logged.info.run_id, "accuracy"))
    assert steps == [1, 2, 3]


def test_an_unusable_store_raises_once_then_the_tracker_stays_quiet(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database's folder should be")
    tracker = MlflowTracker(tracking_uri=f"sqlite:///{blocker / 'mlflow.db'}")
    run = FakeRun(_run_dir(tmp_path))
    with pytest.raises(MlflowTrackerError) as info:
        tracker.torchrack_run_start(run)
    assert "cannot log run 7 to the MLflow store sqlite:///" in str(info.value)
    assert "the run goes on without MLflow" in str(info.value)
    # every later hook is a no-op: one failure, one warning in the run's record
    tracker.torchrack_epoch_start(run)
    tracker.torchrack_epoch_end(run, 0, {"accuracy": 0.5})
    tracker.torchrack_run_end(run, "completed", None)
    tracker.torchrack_run_record_finalized(run, {})


@pytest.mark.parametrize(("params", "expected"), [
    ({"tracking_uri": ""}, "tracking_uri: expected a non-empty string, found ''"),
    ({"experiment": 3}, "experiment: expected a non-empty string, found 3"),
    ({"log_checkpoint": "yes"}, "log_checkpoint: expected true or false, found 'yes'"),
    ({"tags": {"team": 1}}, "tags: expected a table of strings, found 1 for 'team'"),
])
def test_bad_params_are_refused_naming_the_param(params: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError) as info:
        MlflowTracker(**params)
    assert str(info.value) == expected


def test_importing_the_plugin_imports_neither_mlflow_nor_torch() -> None:
    code = ("import sys, torchrack_mlflow; torchrack_mlflow.MlflowTracker(); "
            "print(sorted(m for m in ('mlflow', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
