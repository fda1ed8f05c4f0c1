"""RunStore: records round trip through SQLite and conform to the run-record schema."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from torchrack import TorchrackError
from torchrack_runs._store import (
    SCHEMA_VERSION,
    InvalidRunRecordError,
    RunInUseError,
    RunNotFoundError,
    RunStore,
    StoreError,
    StoreNotFoundError,
)

from ._store_helpers import assert_valid, make_record


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "store" / "runs.sqlite")


def test_round_trip_conforms_to_schema(store: RunStore) -> None:
    rec = make_record(secret=None)
    rid = store.create_run(rec)
    assert rid == "1"
    assert_valid("run-record", store.get(rid))  # valid while running, too
    store.add_epoch(rid, 0, {"train_loss": 0.9, "accuracy": 0.5})
    store.add_epoch(rid, 1, {"train_loss": 0.5, "accuracy": 0.8})
    store.add_evaluation(rid, "test", {"accuracy": 0.81}, "ckpt.pt", "train")
    store.set_checkpoint(rid, "ckpt.pt", 1)
    store.finish_run(rid, "completed", {"accuracy": 0.81, "ece": 0.02}, None,
                     {"train_seconds": 1.5, "eval_seconds": 0.25})
    got = store.get(rid)
    assert_valid("run-record", got)
    assert got["run_id"] == "1"
    assert got["status"] == "completed" and got["error"] is None
    assert got["config"] == rec["config"]
    assert got["config_sha256"] == rec["config_sha256"]
    assert got["components"] == rec["components"]
    assert got["environment"] == rec["environment"]
    assert got["seed"] == 0
    assert got["epochs"] == [{"epoch": 0, "metrics": {"train_loss": 0.9, "accuracy": 0.5}},
                             {"epoch": 1, "metrics": {"train_loss": 0.5, "accuracy": 0.8}}]
    assert got["final_metrics"] == {"accuracy": 0.81, "ece": 0.02}
    assert got["checkpoint"] == "ckpt.pt" and got["checkpoint_epoch"] == 1
    [ev] = got["evaluations"]
    assert (ev["split"], ev["metrics"], ev["checkpoint"], ev["source"]) == (
        "test", {"accuracy": 0.81}, "ckpt.pt", "train")
    t = got["timings"]
    assert t["started_at"] == 1000.0 and t["ended_at"] >= t["started_at"]
    assert (t["train_seconds"], t["eval_seconds"]) == (1.5, 0.25)


def test_floats_are_bit_identical(store: RunStore) -> None:
    value = 0.1 + 0.2  # 0.30000000000000004
    rid = store.create_run(make_record())
    store.finish_run(rid, "completed", {"accuracy": value, "tiny": 5e-324}, None, {})
    assert store.get(rid)["final_metrics"] == {"accuracy": value, "tiny": 5e-324}


def test_ids_increase_and_latest(store: RunStore) -> None:
    ids = [store.create_run(make_record(f"r{i}")) for i in range(3)]
    assert ids == ["1", "2", "3"]
    assert store.get("latest")["name"] == "r2"
    assert store.get(" LATEST ")["run_id"] == "3"
    assert [r["run_id"] for r in store.list_runs()] == ["3", "2", "1"]
    assert [r["run_id"] for r in store.list_runs(limit=2)] == ["3", "2"]
    row = store.list_runs()[0]
    assert row["status"] == "running" and row["epochs"] == 0


def test_unknown_id_names_id_store_and_latest(store: RunStore) -> None:
    for i in range(7):
        store.create_run(make_record(f"r{i}"))
    with pytest.raises(RunNotFoundError) as exc:
        store.get("42")
    message = str(exc.value)
    assert isinstance(exc.value, TorchrackError)
    assert "'42'" in message and str(store.path) in message
    assert "7, 6, 5, 4, 3" in message
    with pytest.raises(RunNotFoundError, match="not a run reference"):
        store.get("../etc")
    with pytest.raises(RunNotFoundError):
        store.run_dir("42")


def test_latest_of_empty_store(store: RunStore) -> None:
    with pytest.raises(RunNotFoundError, match="empty"):
        store.get("latest")


def test_invalid_record_is_refused(store: RunStore) -> None:
    rec = make_record()
    rec["config_sha256"] = "not-a-hash"
    with pytest.raises(InvalidRunRecordError, match="config_sha256"):
        store.create_run(rec)
    assert store.list_runs() == []


def test_finish_refuses_unknown_status(store: RunStore) -> None:
    rid = store.create_run(make_record())
    with pytest.raises(ValueError, match="completed"):
        store.finish_run(rid, "done", {}, None, {})


def test_resume_upserts_epochs(store: RunStore) -> None:
    rid = store.create_run(make_record())
    store.add_epoch(rid, 0, {"loss": 1.0})
    store.add_epoch(rid, 1, {"loss": 0.8})
    store.finish_run(rid, "interrupted", {}, "killed", {})
    store.reopen_run(rid)
    got = store.get(rid)
    assert got["status"] == "running" and got["error"] is None
    assert got["timings"]["ended_at"] is None and len(got["timings"]["resumed_at"]) == 1
    store.add_epoch(rid, 1, {"loss": 0.7})  # the redone epoch replaces the old row
    store.add_epoch(rid, 2, {"loss": 0.6})
    store.finish_run(rid, "completed", {"accuracy": 0.9}, None, {"started_at": 99999.0})
    got = store.get(rid)
    assert [e["metrics"]["loss"] for e in got["epochs"]] == [1.0, 0.7, 0.6]
    assert got["timings"]["started_at"] == 1000.0  # the first start is kept
    assert_valid("run-record", got)


def test_run_dir_and_default_path(store: RunStore, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    rid = store.create_run(make_record())
    path = store.run_dir(rid)
    assert path == store.path.parent.resolve() / "runs" / rid and path.is_dir()
    monkeypatch.delenv("TORCHRACK_STORE", raising=False)
    assert RunStore.default_path() == Path(".torchrack") / "runs.sqlite"
    monkeypatch.setenv("TORCHRACK_STORE", str(tmp_path / "elsewhere.sqlite"))
    assert RunStore.default_path() == tmp_path / "elsewhere.sqlite"


def test_missing_store_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "runs.sqlite"
    with pytest.raises(StoreNotFoundError, match="no run store"):
        RunStore(path, create=False)
    assert not path.exists() and not path.parent.exists()


def test_wal_mode_and_schema_version(store: RunStore) -> None:
    store.create_run(make_record())
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    assert int(version) == SCHEMA_VERSION
    conn.close()


def test_newer_schema_is_refused(store: RunStore) -> None:
    store.close()
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="upgrade torchrack"):
        RunStore(store.path)


@pytest.mark.parametrize("content", [b"this is not sqlite at all" * 100, None])
def test_foreign_files_are_refused(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "other.sqlite"
    if content is None:  # an SQLite database of something else
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE people (name TEXT)")
        conn.commit()
        conn.close()
    else:
        path.write_bytes(content)
    with pytest.raises(StoreError, match="not a"):
        RunStore(path)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_dead_writer_is_marked_interrupted(store: RunStore) -> None:
    dead = store.create_run(make_record("dead"))
    alive = store.create_run(make_record("alive"))  # this process: alive
    done = store.create_run(make_record("done"))
    store.finish_run(done, "completed", {}, None, {})
    store.close()
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE runs SET pid = ?, pid_start = NULL WHERE id = ?", (_dead_pid(), int(dead)))
    conn.commit()
    conn.close()
    reopened = RunStore(store.path)
    got = reopened.get(dead)
    assert got["status"] == "interrupted"
    assert "ended without finishing" in got["error"] and f"--resume {dead}" in got["error"]
    assert reopened.get(alive)["status"] == "running"
    assert reopened.get(done)["status"] == "completed"
    assert_valid("run-record", got)


def test_reused_pid_counts_as_dead(store: RunStore) -> None:
    rid = store.create_run(make_record())
    store.close()
    conn = sqlite3.connect(store.path)  # same live pid, but a different process start time
    conn.execute("UPDATE runs SET pid_start = '1' WHERE id = ?", (int(rid),))
    conn.commit()
    conn.close()
    if not Path("/proc/self/stat").exists():
        pytest.skip("process start times need /proc (Linux)")
    assert RunStore(store.path).get(rid)["status"] == "interrupted"


def test_runs_of_other_hosts_are_left_alone(store: RunStore) -> None:
    rid = store.create_run(make_record())
    store.close()
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE runs SET hostname = 'elsewhere', pid = ? WHERE id = ?", (_dead_pid(), int(rid)))
    conn.commit()
    conn.close()
    assert RunStore(store.path).get(rid)["status"] == "running"


def test_a_run_with_a_live_writer_cannot_be_reopened(store: RunStore) -> None:
    rid = store.create_run(make_record())
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        conn = sqlite3.connect(store.path)
        conn.execute("UPDATE runs SET pid = ?, pid_start = NULL WHERE id = ?", (proc.pid, int(rid)))
        conn.commit()
        conn.close()
        with pytest.raises(RunInUseError, match=f"process {proc.pid}"):
            store.reopen_run(rid)
    finally:
        proc.kill()
        proc.wait()
    store.reopen_run(rid)  # its writer is gone now
    assert store.get(rid)["status"] == "running"
