"""Reading while a run writes: the event log followed line by line, the store read during writes.

A second process appends epochs to the store and its event log as the trainer does, while the
dashboard (read-only, in this process) answers the run's curves over and over: every answer is a
200 with whole epochs, their number never goes down, and the last answer has them all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from torchrack_runs import RunStore
from torchrack_ui import Dashboard
from torchrack_ui._events import EventTail

from ._ui_helpers import record

WRITER = """
import sys, time
from torchrack_runs import RunStore
path, rid, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = RunStore(path)
for epoch in range(1, epochs + 1):
    store.log_event(rid, "epoch_start", epoch=epoch)
    for step in range(1, 6):
        store.log_event(rid, "train_step_end", epoch=epoch, step=step, metrics={"loss": 1.0 / step})
    metrics = {"train_loss": 1.0 / epoch, "accuracy": epoch / epochs}
    store.add_epoch(rid, epoch, metrics)
    store.log_event(rid, "epoch_end", epoch=epoch, metrics=metrics)
    time.sleep(0.05)
store.finish_run(rid, "completed", {"accuracy": 1.0}, None, {})
"""


def test_curves_are_whole_and_growing_while_another_process_writes(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        rid = store.create_run(record("live"))
    dashboard = Dashboard(path)
    epochs = 30
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), rid, str(epochs)],
                              stderr=subprocess.PIPE, text=True)
    seen: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            response = dashboard.handle(f"/api/runs/{rid}/curves")
            assert response.status == 200, response.body[:400]
            data = json.loads(response.body)
            numbers = [e["epoch"] for e in data["curves"]["epochs"]]
            assert numbers == list(range(1, len(numbers) + 1))  # whole epochs, in order
            assert all("accuracy" in e["metrics"] for e in data["curves"]["epochs"])
            seen.append(len(numbers))
            if data["status"] == "completed":
                break
            assert time.monotonic() < deadline, f"the writer did not finish: {seen[-5:]}"
            assert writer.poll() in (None, 0), writer.stderr.read() if writer.stderr else ""
        assert writer.wait(60) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.communicate()
        dashboard.close()
    assert seen == sorted(seen) and seen[-1] == epochs
    assert len(set(seen)) > 2, seen  # it was read while being written


def test_the_event_tail_reads_only_whole_lines_and_skips_torn_ones(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    tail = EventTail(log)
    assert tail.read() == []  # not written yet
    log.write_text('{"seq": 0, "type": "run_start"}\n{"seq": 1, "ty')
    assert [e["seq"] for e in tail.read()] == [0]  # the second line is still being written
    with log.open("a") as fh:
        fh.write('pe": "epoch_start"}\n')
    assert [e["seq"] for e in tail.read()] == [0, 1]
    with log.open("a") as fh:  # a crash tore a line; the next writer starts a new one
        fh.write('{"seq": 2, "type": "epo\n{"seq": 3, "type": "epoch_end"}\n[1, 2]\n')
    assert [e["seq"] for e in tail.read()] == [0, 1, 3]
    replaced = tmp_path / "new.jsonl"
    replaced.write_text('{"seq": 0, "type": "run_start", "again": true}\n')
    replaced.replace(log)  # a new file at the same path is read from its start
    assert tail.read() == [{"seq": 0, "type": "run_start", "again": True}]
