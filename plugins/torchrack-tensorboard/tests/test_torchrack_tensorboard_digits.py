"""The digits demo (3 epochs) with the TensorBoard tracker and params, through the real CLI: the
curves TensorBoard's reader finds are the ones in the run store.

It needs torchrack-runs and the demo's component plugins; alone with the core (the noxfile's
isolation session) it is skipped, saying which are missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DIGITS = ROOT / "examples" / "digits.toml"
NEEDED = ("torchrack_runs", "torchrack_datasets", "torchrack_augment", "torchrack_backbones",
          "torchrack_heads", "torchrack_losses", "torchrack_metrics", "torchrack_optim")
MISSING = [m for m in NEEDED if importlib.util.find_spec(m) is None]


def _torchrack(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TORCHRACK_CACHE_DIR": str(cwd / ".cache")}
    for key in ("TORCHRACK_STORE", "TORCHRACK_DENY", "TORCHRACK_ALLOW", "TORCHRACK_STRICT"):
        env.pop(key, None)
    return subprocess.run([sys.executable, "-m", "torchrack", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.skipif(bool(MISSING), reason=f"the digits demo needs {', '.join(MISSING)} (not installed)")
def test_digits_curves_in_tensorboard_match_the_run_store(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tmp_path / "digits.toml"
    config.write_text('trackers = [{ name = "tensorboard", params = { log_dir = "tb", log_steps = true } }]\n'
                      + DIGITS.read_text())
    done = _torchrack("run", str(config), "--set", "run.epochs=3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads(_torchrack("runs", "show", "latest", "--json", cwd=tmp_path).stdout)
    assert record["status"] == "completed" and not record.get("warnings")
    folder = tmp_path / "tb" / f"{record['run_id']}-digits-small-cnn"
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    for metric in ("accuracy", "train_loss", "eval_loss", "ece"):
        stored = [(e["epoch"], e["metrics"][metric]) for e in record["epochs"]]
        read = [(e.step, e.value) for e in events.Scalars(metric)]
        assert [s for s, _ in read] == [s for s, _ in stored] == [1, 2, 3]
        assert [v for _, v in read] == pytest.approx([v for _, v in stored], rel=1e-6), metric
    steps = [e.step for e in events.Scalars("step/loss")]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 3
    assert events.Scalars("final/accuracy")[0].value == pytest.approx(record["final_metrics"]["accuracy"])
