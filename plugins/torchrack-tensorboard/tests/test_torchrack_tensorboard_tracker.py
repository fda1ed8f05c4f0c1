"""The TensorBoard tracker on its own: its hooks called as the trainer calls them, with a small
fake run; what it wrote is read back with TensorBoard's own event reader (EventAccumulator).

These need only the core and this plugin (the noxfile's isolation session).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from torchrack_tensorboard import TensorboardTracker, TensorboardTrackerError

SECRET = "tb-secret-51f0c3-never-written"


@dataclass
class FakeRun:
    """The run object hooks receive (torchrack.Run), as the trainer fills it."""

    run_dir: Path | None
    name: str = "digits small/cnn"
    id: str | None = "3"
    config: dict[str, Any] = field(default_factory=lambda: {"data": {"params": {"token": SECRET}}})
    resolved_config: dict[str, Any] | None = field(default_factory=lambda: {
        "run": {"epochs": 3}, "data": {"params": {"token": "***"}}})
    config_sha256: str = "cd" * 32
    components: list[dict[str, Any]] = field(default_factory=lambda: [
        {"role": "model.backbone", "name": "small_cnn", "version": "1.0.0",
         "distribution": "torchrack-backbones", "distribution_version": "0.1.0"}])
    environment: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    resume_of: str | None = None
    final_metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    sensitive_paths: list[str] = field(default_factory=list)


ACCURACY = [0.5, 0.75, 0.875]


def _train(tracker: TensorboardTracker, run: FakeRun, steps: int = 4) -> None:
    tracker.torchrack_run_start(run)
    for epoch in range(3):
        tracker.torchrack_epoch_start(run)
        for _ in range(steps):
            tracker.torchrack_train_step_end(run, 1.0 / (epoch + 1))
        tracker.torchrack_epoch_end(run, epoch, {
            "accuracy": ACCURACY[epoch], "lr": 0.1, "per_class": {"cat": 0.25 * (epoch + 1)},
            "confusion_matrix": [[2, 0], [0, 2]], "nll": float("inf"), "flag": True})
    tracker.torchrack_evaluation_end(run, {"accuracy": ACCURACY[-1]})
    tracker.torchrack_run_end(run, "completed", None)


def _events(folder: Path) -> Any:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def _curve(acc: Any, tag: str) -> list[tuple[int, float]]:
    return [(e.step, pytest.approx(e.value)) for e in acc.Scalars(tag)]


def test_curves_read_back_with_tensorboards_reader(tmp_path: Path) -> None:
    run_dir = tmp_path / ".torchrack" / "runs" / "3"
    run_dir.mkdir(parents=True)
    tracker = TensorboardTracker(log_steps=True)
    _train(tracker, FakeRun(run_dir))
    folder = tmp_path / ".torchrack" / "tensorboard" / "3-digits_small_cnn"
    assert tracker.folder == folder.resolve()
    assert list(folder.glob("events.out.tfevents.*"))
    acc = _events(folder)
    tags = acc.Tags()["scalars"]
    assert set(tags) == {"accuracy", "lr", "per_class/cat", "final/accuracy", "step/loss"}
    assert _curve(acc, "accuracy") == [(1, 0.5), (2, 0.75), (3, 0.875)]  # epochs 1..N
    assert _curve(acc, "per_class/cat") == [(1, 0.25), (2, 0.5), (3, 0.75)]
    assert _curve(acc, "final/accuracy") == [(3, 0.875)]
    assert [e.step for e in acc.Scalars("step/loss")] == list(range(1, 13))
    texts = " ".join(t.tensor_proto.string_val[0].decode() for tag in acc.Tags()["tensors"]
                     for t in acc.Tensors(tag))
    assert "small_cnn" in texts and "torchrack-backbones" in texts and "***" in texts
    everything = b"".join(p.read_bytes() for p in folder.iterdir())
    assert SECRET.encode() not in everything


def test_log_dir_param_holds_a_folder_per_run(tmp_path: Path) -> None:
    for rid in ("1", "2"):
        _train(TensorboardTracker(log_dir=str(tmp_path / "tb"), log_steps=False), FakeRun(None, id=rid))
    folders = sorted(p.name for p in (tmp_path / "tb").iterdir())
    assert folders == ["1-digits_small_cnn", "2-digits_small_cnn"]
    acc = _events(tmp_path / "tb" / "2-digits_small_cnn")
    assert "step/loss" not in acc.Tags()["scalars"]
    assert _curve(acc, "accuracy")[-1] == (3, 0.875)


def test_an_unwritable_log_dir_raises_once_then_the_tracker_stays_quiet(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    tracker = TensorboardTracker(log_dir=str(blocker))
    run = FakeRun(None)
    with pytest.raises(TensorboardTrackerError, match="cannot write TensorBoard events of run 3 to"):
        tracker.torchrack_run_start(run)
    tracker.torchrack_epoch_start(run)  # no second failure: the first one was reported
    tracker.torchrack_epoch_end(run, 0, {"accuracy": 0.5})
    tracker.torchrack_run_end(run, "completed", None)


@pytest.mark.parametrize(("params", "expected"), [
    ({"log_dir": ""}, "log_dir: expected a folder path, found ''"),
    ({"log_steps": 1}, "log_steps: expected true or false, found 1"),
    ({"flush_secs": 0}, "flush_secs: expected a whole number of seconds, 1 or more, found 0"),
])
def test_bad_params_are_refused_naming_the_param(params: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValueError) as info:
        TensorboardTracker(**params)
    assert str(info.value) == expected


def test_importing_the_plugin_imports_neither_torch_nor_tensorboard() -> None:
    code = ("import sys, torchrack_tensorboard; torchrack_tensorboard.TensorboardTracker(); "
            "print(sorted(m for m in ('tensorboard', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
