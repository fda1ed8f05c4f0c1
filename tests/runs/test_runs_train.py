"""End to end: the digits demo trains, records, repeats bit for bit, resumes and honours locks."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from torchrack.contracts import validate

from ._cli import DIGITS, torchrack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_demo_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    cwd = tmp_path_factory.mktemp("demo")
    records = []
    for _ in range(2):
        proc = torchrack("run", str(DIGITS), cwd=cwd)
        assert proc.returncode == 0, proc.stderr
        shown = torchrack("runs", "show", "latest", "--json", cwd=cwd)
        assert shown.returncode == 0, shown.stderr
        records.append(json.loads(shown.stdout))
    return cwd, records


def test_demo_reaches_the_accuracy_target_and_its_record_validates(two_demo_runs) -> None:
    _, (first, _) = two_demo_runs
    assert validate("run-record", first) == []
    assert first["status"] == "completed"
    assert first["final_metrics"]["accuracy"] >= 0.95
    assert len(first["epochs"]) == 12
    roles = {c["role"]: c for c in first["components"]}
    assert roles["model.backbone"]["name"] == "small_cnn"
    assert len(roles["model.backbone"]["files_sha256"]) == 64
    assert first["environment"]["torch"].startswith("2.")
    assert first["checkpoint"] and Path(first["checkpoint"]).is_file()


def test_two_runs_of_one_config_give_identical_metrics(two_demo_runs) -> None:
    cwd, (first, second) = two_demo_runs
    assert first["run_id"] != second["run_id"]
    assert first["final_metrics"] == second["final_metrics"]
    assert [e["metrics"] for e in first["epochs"]] == [e["metrics"] for e in second["epochs"]]
    proc = torchrack("runs", "compare", first["run_id"], second["run_id"], cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "no differences in metrics" in proc.stdout


def test_eval_records_a_separate_evaluation(two_demo_runs) -> None:
    cwd, (first, _) = two_demo_runs
    proc = torchrack("eval", first["run_id"], "--metrics", "accuracy", "confusion_matrix", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(torchrack("runs", "show", first["run_id"], "--json", cwd=cwd).stdout)
    evals = [e for e in record["evaluations"] if e.get("source") == "eval"]
    assert evals, record["evaluations"]
    assert evals[-1]["metrics"]["accuracy"] == first["final_metrics"]["accuracy"]
    matrix = evals[-1]["metrics"]["confusion_matrix"]
    from torchrack import Registry

    digits = Registry.discover().get("dataset", "digits")()
    _, y_test = digits.load("test")
    assert sum(map(sum, matrix)) == len(y_test)  # every held-out sample counted once
    assert 0 < len(y_test) < 1797


def test_mismatched_head_fails_before_training(tmp_path: Path) -> None:
    proc = torchrack("run", str(DIGITS), "--set", "model.head.params.in_features=512", cwd=tmp_path)
    assert proc.returncode == 1
    err = proc.stderr
    assert "head 'linear'" in err and "backbone 'small_cnn'" in err
    assert "[N, 512]" in err and "[N, 64]" in err
    assert "model.head.params.in_features = 64" in err
    assert "Traceback" not in err
    assert "epoch 1/" not in err  # no training happened
    assert not (tmp_path / ".torchrack").exists()  # and nothing was recorded


_KILLER = '''
import os, signal
from torchrack import hookimpl

@hookimpl
def torchrack_train_step_end(run, epoch, step, loss):
    if os.environ.get("KILL_AT_EPOCH") == str(epoch) and step == 3:
        os.kill(os.getpid(), signal.SIGKILL)
'''


def _killer_plugin(root: Path) -> Path:
    site = root / "site"
    pkg = site / "killer_hooks"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(_KILLER)
    (pkg / "torchrack-manifest.json").write_text(json.dumps(
        {"manifest_version": 1, "api": ">=1,<2", "components": {},
         "hooks": {"killer": {"summary": "SIGKILLs the run at a chosen epoch (tests)"}}}))
    info = site / "killer_hooks-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: killer-hooks\nVersion: 1.0\nRequires-Dist: torchrack>=0.1\n")
    (info / "entry_points.txt").write_text("[torchrack.hooks]\nkiller = killer_hooks\n")
    (info / "RECORD").write_text("")
    return site


def test_a_run_killed_in_epoch_two_resumes_to_the_same_metrics(tmp_path: Path) -> None:
    site = _killer_plugin(tmp_path)
    config = tmp_path / "exp.toml"
    config.write_text(DIGITS.read_text() + textwrap.dedent("""
        [[trackers]]
        name = "killer"
    """))
    env = {"PYTHONPATH": str(site)}
    common = ["run", str(config), "--set", "run.epochs=4"]
    whole = torchrack(*common, cwd=tmp_path, env=env)
    assert whole.returncode == 0, whole.stderr
    killed = torchrack(*common, cwd=tmp_path, env={**env, "KILL_AT_EPOCH": "1"})
    assert killed.returncode == -9, killed.stderr
    listing = torchrack("runs", "show", "2", "--json", cwd=tmp_path, env=env)
    assert json.loads(listing.stdout)["status"] == "interrupted"
    import sqlite3

    with sqlite3.connect(tmp_path / ".torchrack" / "runs.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    resumed = torchrack(*common, "--resume", "2", cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming run 2 at epoch 2/4" in resumed.stderr
    a = json.loads(torchrack("runs", "show", "1", "--json", cwd=tmp_path, env=env).stdout)
    b = json.loads(torchrack("runs", "show", "2", "--json", cwd=tmp_path, env=env).stdout)
    assert b["status"] == "completed"
    assert a["final_metrics"] == b["final_metrics"]


def test_locked_run_refuses_when_a_component_version_differs(tmp_path: Path) -> None:
    lock = tmp_path / "exp.lock"
    proc = torchrack("lock", str(DIGITS), "-o", str(lock), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(lock.read_text())
    head = next(c for c in data["components"] if c["role"] == "model.head")
    # The lock was taken when torchrack-heads was at another release: the environment now differs.
    head["distribution_version"] = "0.0.9"
    lock.write_text(json.dumps(data))
    proc = torchrack("run", str(DIGITS), "--locked", str(lock), cwd=tmp_path)
    assert proc.returncode == 1
    assert "model.head (head linear): distribution_version locked 0.0.9" in proc.stderr
    assert not (tmp_path / ".torchrack").exists()
