"""Event logs, redaction and the built-in store tracker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from torchrack.hookspecs import plugin_manager
from torchrack_runs._redact import REDACTED, is_sensitive_key, redact, scrub, secret_values
from torchrack_runs._store import RunStore
from torchrack_runs._tracker import StoreTracker
from torchrack_runs._trainer import Run

from ._store_helpers import SECRET, assert_valid, make_record


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite")


# -- redaction ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("key", "sensitive"),
    [
        ("token", True), ("hf_token", True), ("AccessToken", True), ("TOKEN", True),
        ("password", True), ("db_passwd", True), ("client_secret", True), ("api_key", True),
        ("apiKey", True), ("api-key", True), ("credentials", True), ("tokenizer_secret", True),
        ("tokenizer", False), ("max_tokens", False), ("pad_token", False), ("token_ids", False),
        ("lr", False), ("name", False), ("key", False), (3, False),
    ],
)
def test_sensitive_keys(key: object, sensitive: bool) -> None:
    assert is_sensitive_key(key) is sensitive


def test_redact_nested_and_paths() -> None:
    cfg = {
        "data": {"params": {"token": "abc", "unset_token": None, "size": 3}},
        "augment": [{"params": {"key": "k1"}}, {"params": {"Password": 1234}}],
        "trackers": [{"credentials": {"user": "u", "pass": "p"}}],
    }
    out = redact(cfg, paths=["augment[0].params.key"])
    assert out["data"]["params"] == {"token": REDACTED, "unset_token": None, "size": 3}
    assert out["augment"] == [{"params": {"key": REDACTED}}, {"params": {"Password": REDACTED}}]
    assert out["trackers"] == [{"credentials": REDACTED}]
    assert cfg["data"]["params"]["token"] == "abc"  # the input is untouched
    assert redact(cfg, paths=["augment.0.params.key"]) == out
    assert secret_values(cfg, paths=["augment.0.params.key"]) == {"1234"}  # short ones left out
    assert scrub("failed with token tkn-123456", {"tkn-123456"}) == f"failed with token {REDACTED}"


# -- events --------------------------------------------------------------------------------------------

def _events(store: RunStore, rid: str) -> list[dict[str, Any]]:
    lines = (store.run_dir(rid) / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_events_validate_and_seq_increases(store: RunStore) -> None:
    rid = store.create_run(make_record())
    store.log_event(rid, "run_start", data={"name": "demo"})
    store.log_event(rid, "epoch_start", epoch=0)
    store.log_event(rid, "train_step_end", epoch=0, step=3, metrics={"loss": 0.5})
    store.log_event(rid, "evaluation_end", metrics={"accuracy": 0.9, "per_class": [0.8, 1.0],
                                                     "note": "text"}, split="test")
    store.log_event(rid, "run_end", data={"status": "completed"})
    events = _events(store, rid)
    assert [e["seq"] for e in events] == [0, 1, 2, 3, 4]
    assert [e["type"] for e in events][:2] == ["run_start", "epoch_start"]
    for event in events:
        assert_valid("event", event)
        assert event["run_id"] == rid and event["time"] > 0
    assert events[2]["step"] == 3 and events[2]["metrics"] == {"loss": 0.5}
    assert events[3]["data"] == {"split": "test", "other_metrics": {"note": "text"}}
    assert store.read_events(rid) == events
    with pytest.raises(ValueError, match="unknown event type"):
        store.log_event(rid, "party")


def test_seq_continues_across_stores_and_torn_lines(store: RunStore) -> None:
    rid = store.create_run(make_record())
    store.log_event(rid, "run_start")
    other = RunStore(store.path)  # another writer (say, `torchrack eval`) appends to the same log
    other.log_event(rid, "evaluation_end", metrics={"accuracy": 1.0})
    store.log_event(rid, "run_end")
    with open(store.run_dir(rid) / "events.jsonl", "a") as fh:
        fh.write('{"schema_version": 1, "run_id": "1", "se')  # a line torn by a crash
    RunStore(store.path).log_event(rid, "run_start")
    events = store.read_events(rid)
    assert [e["seq"] for e in events] == [0, 1, 2, 3]
    for event in events:
        assert_valid("event", event)


# -- the tracker -----------------------------------------------------------------------------------

def _fake_run(resume_of: str | None = None) -> Run:
    rec = make_record()
    return Run(rec["name"], rec["config"], rec["config_sha256"], rec["components"],
                   rec["environment"], rec["seed"], resume_of=resume_of,
                   timings={"started_at": 1000.0, "ended_at": None})


def _train(pm: Any, run: Run, epochs: range, *, fail_at: int | None = None) -> None:
    pm.hook.torchrack_run_start(run=run, config=run.config)
    for epoch in epochs:
        pm.hook.torchrack_epoch_start(run=run, epoch=epoch)
        for step in range(2):
            pm.hook.torchrack_train_step_end(run=run, epoch=epoch, step=step, loss=1.0 / (step + 1))
        if epoch == fail_at:
            pm.hook.torchrack_run_end(run=run, status="failed",
                                      error=f"RuntimeError: bad token {SECRET} in epoch {epoch}")
            return
        pm.hook.torchrack_epoch_end(run=run, epoch=epoch, metrics={"loss": 1.0 / (epoch + 1)})
        run.checkpoint = f"ckpt-{epoch}.pt"
        pm.hook.torchrack_checkpoint_saved(run=run, path=run.checkpoint, epoch=epoch)
    run.final_metrics = {"accuracy": 0.97}
    pm.hook.torchrack_evaluation_end(run=run, split="test", metrics=run.final_metrics)
    run.timings["train_seconds"] = 2.0
    pm.hook.torchrack_run_end(run=run, status="completed", error=None)
    assert run.id is not None
    pm.hook.torchrack_run_record_finalized(run=run, record=pm_store(pm).get(run.id))


def pm_store(pm: Any) -> RunStore:
    tracker = pm.get_plugin("torchrack-store")
    assert isinstance(tracker, StoreTracker)
    return tracker.store


def test_tracker_records_a_run_and_a_resume(store: RunStore) -> None:
    pm = plugin_manager()
    pm.register(StoreTracker(store), name="torchrack-store")
    run = _fake_run()
    _train(pm, run, range(0, 2), fail_at=1)
    assert run.id == "1"
    failed = store.get("1")
    assert failed["status"] == "failed" and SECRET not in failed["error"]
    assert [e["epoch"] for e in failed["epochs"]] == [1]  # records number epochs 1..N

    resumed = _fake_run(resume_of="1")
    _train(pm, resumed, range(1, 3))
    assert resumed.id == "1"
    got = store.get("1")
    assert_valid("run-record", got)
    assert got["status"] == "completed" and got["error"] is None
    assert [e["epoch"] for e in got["epochs"]] == [1, 2, 3]
    assert got["final_metrics"] == {"accuracy": 0.97}
    assert got["checkpoint"] == "ckpt-2.pt" and got["checkpoint_epoch"] == 3  # epoch index 2, the third
    assert [(e["split"], e["source"], e["checkpoint"]) for e in got["evaluations"]] == [
        ("test", "train", "ckpt-2.pt")]
    assert got["timings"]["started_at"] == 1000.0 and got["timings"]["train_seconds"] == 2.0

    events = store.read_events("1")
    assert [e["seq"] for e in events] == list(range(len(events)))
    types = [e["type"] for e in events]
    assert types.count("run_start") == 2 and types[-1] == "run_record_finalized"
    assert {"epoch_start", "epoch_end", "train_step_end", "evaluation_end", "checkpoint_saved",
            "run_end"} <= set(types)
    for event in events:
        assert_valid("event", event)
    assert SECRET not in (store.run_dir("1") / "events.jsonl").read_text()


def test_tracker_sets_id_before_other_trackers(store: RunStore) -> None:
    from torchrack.hookspecs import hookimpl

    seen: list[str | None] = []

    class Other:
        @hookimpl
        def torchrack_run_start(self, run: Any) -> None:
            seen.append(run.id)

    pm = plugin_manager()
    pm.register(StoreTracker(store), name="torchrack-store")
    pm.register(Other(), name="other")  # registered later: pluggy would call it first
    pm.hook.torchrack_run_start(run=_fake_run(), config={})
    assert seen == ["1"]


def test_secret_never_reaches_disk(store: RunStore) -> None:
    pm = plugin_manager()
    pm.register(StoreTracker(store), name="torchrack-store")
    _train(pm, _fake_run(), range(2), fail_at=1)
    _train(pm, _fake_run(), range(2))
    store.close()
    needle = SECRET.encode()
    files = [p for p in store.path.parent.rglob("*") if p.is_file()]
    assert any(p.name == "events.jsonl" for p in files)
    for path in files:
        assert needle not in path.read_bytes(), path
