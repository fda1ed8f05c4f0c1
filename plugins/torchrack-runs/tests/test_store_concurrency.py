"""Crash safety and concurrency: eight writers lose no record; SIGKILL leaves a sound store."""

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
from torchrack_runs._store import RunStore

from ._store_helpers import assert_valid

WRITER = """
import json, sys, time
from torchrack_runs._store import RunStore
sys.path.insert(0, {helpers!r})
from _store_helpers import make_record

path, worker, start_at = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
while time.time() < start_at:  # start together, so that the writers really overlap
    time.sleep(0.001)
store = RunStore(path)
rid = store.create_run(make_record(f"worker-{{worker}}", seed=worker))
store.log_event(rid, "run_start")
for epoch in range(5):
    store.add_epoch(rid, epoch, {{"loss": 1.0 / (epoch + 1), "worker": worker}})
    store.log_event(rid, "epoch_end", epoch=epoch, metrics={{"loss": 1.0 / (epoch + 1)}})
store.add_evaluation(rid, "test", {{"accuracy": worker / 10}}, None, "train")
store.set_checkpoint(rid, f"ckpt-{{worker}}.pt", 4)
store.finish_run(rid, "completed", {{"accuracy": worker / 10}}, None, {{"train_seconds": 1.0}})
store.log_event(rid, "run_end")
print(json.dumps({{"worker": worker, "run_id": rid}}))
"""

HELPERS = str(Path(__file__).resolve().parent)


def test_eight_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    script = WRITER.format(helpers=HELPERS)
    start_at = time.time() + 2.0
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path), str(w), str(start_at)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for w in range(8)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    ids = sorted(int(r["run_id"]) for r in results)
    assert ids == list(range(1, 9))

    store = RunStore(path)
    assert store.integrity_check() == ["ok"]
    runs = store.list_runs()
    assert len(runs) == 8
    for r in results:
        rec = store.get(r["run_id"])
        assert_valid("run-record", rec)
        worker = r["worker"]
        assert rec["name"] == f"worker-{worker}" and rec["status"] == "completed"
        assert [e["epoch"] for e in rec["epochs"]] == [0, 1, 2, 3, 4]
        assert all(e["metrics"]["worker"] == worker for e in rec["epochs"])
        assert rec["final_metrics"] == {"accuracy": worker / 10}
        assert rec["checkpoint"] == f"ckpt-{worker}.pt" and len(rec["evaluations"]) == 1
        events = store.read_events(r["run_id"])
        assert [e["seq"] for e in events] == list(range(7))
        for event in events:
            assert_valid("event", event)


KILLED = """
import sys
from torchrack_runs._store import RunStore
sys.path.insert(0, {helpers!r})
from _store_helpers import make_record

store = RunStore(sys.argv[1])
rid = store.create_run(make_record("doomed"))
store.add_epoch(rid, 0, {{"loss": 1.0}})
store.set_checkpoint(rid, "ckpt-0.pt", 0)
print(rid, flush=True)
epoch = 1
while True:  # keep writing until killed mid-transaction
    store.add_epoch(rid, epoch % 50 + 1, {{"loss": 1.0 / epoch}})
    store.log_event(rid, "train_step_end", epoch=1, step=epoch, metrics={{"loss": 0.5}})
    epoch += 1
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_sigkill_leaves_a_sound_store_and_an_interrupted_run(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", KILLED.format(helpers=HELPERS), str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    rid = proc.stdout.readline().strip()
    assert rid == "1", proc.stderr.read() if proc.stderr else ""
    time.sleep(0.5)  # let it write for a while
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    store = RunStore(path)
    assert store.integrity_check() == ["ok"]
    rec = store.get(rid)
    assert rec["status"] == "interrupted"
    assert rec["checkpoint"] == "ckpt-0.pt" and rec["epochs"][0] == {"epoch": 0, "metrics": {"loss": 1.0}}
    assert_valid("run-record", rec)
    events = store.read_events(rid)  # a torn last line, if any, is skipped
    assert events and [e["seq"] for e in events] == list(range(len(events)))
    store.log_event(rid, "run_start")  # the log continues after the crash
    assert store.read_events(rid)[-1]["seq"] == len(events)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
