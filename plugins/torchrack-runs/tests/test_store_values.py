"""Values the store must hold or refuse cleanly: integers beyond SQLite's 64 bits (a message naming
the field, never OverflowError), non-finite floats (stored as null: strict JSON everywhere),
keys json cannot sort, and run references no run can have."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from torchrack.cli import main
from torchrack_runs._store import InvalidRunRecordError, RunNotFoundError, RunStore

from ._store_helpers import assert_valid, make_record

NON_FINITE = [float("nan"), float("inf"), float("-inf")]


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite")


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _strict(text: str) -> Any:
    """``json.loads`` that refuses NaN, Infinity and -Infinity, as strict JSON readers do."""
    def refuse(token: str) -> Any:
        raise AssertionError(f"non-strict JSON token {token} in {text[:200]!r}")
    return json.loads(text, parse_constant=refuse)


def _json_columns(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        texts = []
        for row in conn.execute("SELECT config, components, environment, final_metrics, timings,"
                                " extra FROM runs"):
            texts += [t for t in row if t is not None]
        texts += [r[0] for r in conn.execute("SELECT metrics FROM epochs")]
        texts += [r[0] for r in conn.execute("SELECT metrics FROM evaluations")]
        return texts
    finally:
        conn.close()


# -- integers beyond 64 bits ---------------------------------------------------------------------

@pytest.mark.parametrize("seed", [2**64, 2**63, -(2**63) - 1, 10**5000],
                         ids=["2**64", "2**63", "-2**63-1", "10**5000"])
def test_a_seed_beyond_64_bits_is_refused_naming_the_field(store: RunStore, seed: int) -> None:
    rec = make_record()
    rec["seed"] = seed
    rec["config"]["run"]["seed"] = seed
    with pytest.raises(InvalidRunRecordError) as exc:
        store.create_run(rec)
    message = str(exc.value)
    assert message.startswith("the run record cannot be stored: seed:")
    assert "64-bit" in message and len(message) < 400  # not a 5000-digit number
    assert store.list_runs() == []  # nothing half-written


@pytest.mark.parametrize("seed", [2**63 - 1, -(2**63), 0, 7.0])
def test_seeds_at_the_edges_are_kept(store: RunStore, seed: Any) -> None:
    rec = make_record()
    rec["seed"] = seed
    rid = store.create_run(rec)
    assert store.get(rid)["seed"] == int(seed)


@pytest.mark.parametrize("seed", ["7", None, True, 1.5])
def test_a_seed_that_is_not_a_whole_number(store: RunStore, seed: Any) -> None:
    rec = make_record()
    rec["seed"] = seed
    with pytest.raises(InvalidRunRecordError, match="seed"):
        store.create_run(rec)
    assert store.list_runs() == []


def test_other_integer_columns_are_checked(store: RunStore) -> None:
    rec = make_record()
    rec["checkpoint_epoch"] = 2**64
    with pytest.raises(InvalidRunRecordError, match="checkpoint_epoch"):
        store.create_run(rec)
    rid = store.create_run(make_record())
    for bad in (2**64, -1, 1.5, "3", None):
        with pytest.raises(InvalidRunRecordError, match="epoch"):
            store.add_epoch(rid, bad, {"loss": 1.0})  # type: ignore[arg-type]
        with pytest.raises(InvalidRunRecordError, match="checkpoint_epoch"):
            store.set_checkpoint(rid, "ckpt.pt", bad)  # type: ignore[arg-type]
    got = store.get(rid)
    assert got["epochs"] == [] and got["checkpoint"] is None


def test_huge_integers_inside_json_are_kept_or_refused(store: RunStore) -> None:
    rec = make_record()
    rec["config"]["model"]["backbone"]["params"]["width"] = 2**64  # JSON has no 64-bit limit
    rid = store.create_run(rec)
    assert store.get(rid)["config"]["model"]["backbone"]["params"]["width"] == 2**64
    store.add_epoch(rid, 0, {"samples": 2**70})
    assert store.get(rid)["epochs"][0]["metrics"] == {"samples": 2**70}
    with pytest.raises(InvalidRunRecordError, match="final_metrics: cannot be stored as JSON"):
        store.finish_run(rid, "completed", {"n": 10**5000}, None, {})  # no JSON number that long
    assert store.get(rid)["status"] == "running"


REFS = ["99999999999999999999", "9223372036854775808", "0" * 5000 + "1", "9" * 5000, "²", "١",
        "٣", "1_000", "+1", "-1", "0x1", "1.0"]


@pytest.mark.parametrize("ref", REFS, ids=[f"ref{i}" for i in range(len(REFS))])
def test_run_references_no_run_can_have(store: RunStore, ref: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    store.create_run(make_record())
    if ref == "0" * 5000 + "1":  # leading zeros: still run 1
        assert store.get(ref)["run_id"] == "1"
        return
    with pytest.raises(RunNotFoundError):
        store.get(ref)
    for action in (["show", ref], ["compare", "1", ref]):
        code, out, err = _cli(capsys, "runs", *action, "--store", str(store.path))
        assert code == 1 and out == ""
        assert "internal error" not in err and "Traceback" not in err
        assert str(store.path) in err and len(err) < 500


@pytest.mark.parametrize("limit", ["99999999999999999999", "9223372036854775808"])
def test_a_huge_limit_lists_every_run(store: RunStore, limit: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        store.create_run(make_record(f"r{i}"))
    code, out, err = _cli(capsys, "runs", "list", "--json", "--limit", limit, "--store", str(store.path))
    assert code == 0, err
    assert [r["run_id"] for r in json.loads(out)] == ["3", "2", "1"]
    assert [r["run_id"] for r in store.list_runs(limit=2**70)] == ["3", "2", "1"]


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5"])
def test_a_limit_that_is_not_a_count_is_a_usage_error(store: RunStore, limit: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "runs", "list", "--limit", limit, "--store", str(store.path))
    assert code == 2 and out == "" and "--limit" in err and "internal error" not in err


# -- non-finite floats ---------------------------------------------------------------------------

def test_non_finite_metrics_are_stored_as_null(store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    rid = store.create_run(make_record())
    store.add_epoch(rid, 0, {"loss": float("nan"), "grad": float("inf"), "ok": 0.5,
                             "per_class": [float("-inf"), 0.25], "nested": {"x": float("nan")}})
    store.add_evaluation(rid, "test", {"accuracy": float("nan"), "ece": 0.1}, None, "train")
    store.finish_run(rid, "failed", {"loss": float("inf"), "accuracy": 0.5}, "diverged",
                     {"train_seconds": float("nan")})
    for text in _json_columns(store.path):
        _strict(text)  # no NaN / Infinity token in any JSON column
    got = store.get(rid)
    assert got["epochs"][0]["metrics"] == {"loss": None, "grad": None, "ok": 0.5,
                                           "per_class": [None, 0.25], "nested": {"x": None}}
    assert got["evaluations"][0]["metrics"] == {"accuracy": None, "ece": 0.1}
    assert got["final_metrics"] == {"loss": None, "accuracy": 0.5}
    assert got["timings"]["train_seconds"] is None
    for extra in ([], ["--json"]):
        code, out, err = _cli(capsys, "runs", "show", rid, *extra, "--store", str(store.path))
        assert code == 0, err
    assert _strict(out)["final_metrics"] == {"loss": None, "accuracy": 0.5}
    code, out, _ = _cli(capsys, "runs", "list", "--json", "--store", str(store.path))
    assert _strict(out)[0]["final_metrics"] == {"loss": None, "accuracy": 0.5}


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
def test_non_finite_values_in_a_new_record(store: RunStore, value: float) -> None:
    rec = make_record()
    rec["final_metrics"] = {"prior": value}
    rec["config"]["optimizer"]["params"]["weight_decay"] = value
    rid = store.create_run(rec)
    for text in _json_columns(store.path):
        _strict(text)
    got = store.get(rid)
    assert got["final_metrics"] == {"prior": None}
    assert got["config"]["optimizer"]["params"]["weight_decay"] is None
    assert_valid("run-record", got)


def test_non_finite_metrics_in_events_are_strict_json(store: RunStore) -> None:
    rid = store.create_run(make_record())
    store.log_event(rid, "epoch_end", epoch=0,
                    metrics={"loss": float("nan"), "acc": 0.5, "curve": [float("inf"), 1.0]},
                    data={"lr": float("-inf")})
    line = store.events_path(rid).read_text().splitlines()[0]
    event = _strict(line)
    assert event["metrics"] == {"acc": 0.5, "curve": [None, 1.0]}
    assert event["data"] == {"lr": None, "other_metrics": {"loss": None}}
    assert_valid("event", event)


def test_tensor_and_numpy_values_are_converted(store: RunStore) -> None:
    torch = pytest.importorskip("torch")
    rid = store.create_run(make_record())
    store.add_epoch(rid, 0, {"loss": torch.tensor(float("nan")), "acc": torch.tensor(0.5),
                             "per_class": torch.tensor([0.25, float("inf")])})
    assert store.get(rid)["epochs"][0]["metrics"] == {"loss": None, "acc": 0.5,
                                                      "per_class": [0.25, None]}


# -- keys and shapes json cannot write as they are -----------------------------------------------

def test_mixed_and_odd_keys_are_stored_as_strings(store: RunStore) -> None:
    rid = store.create_run(make_record())
    store.add_epoch(rid, 0, {"per_class": {0: 0.9, 1: 0.8, "mean": 0.85}})  # sort_keys fails on these
    store.finish_run(rid, "completed", {(0, 1): 0.5, None: 1, True: 2, 1.5: 3}, None, {})
    got = store.get(rid)
    assert got["epochs"][0]["metrics"] == {"per_class": {"0": 0.9, "1": 0.8, "mean": 0.85}}
    assert got["final_metrics"] == {"(0, 1)": 0.5, "null": 1, "true": 2, "1.5": 3}


def test_values_with_no_json_form_are_refused_naming_the_field(store: RunStore) -> None:
    rid = store.create_run(make_record())
    circular: dict[str, Any] = {}
    circular["self"] = circular
    with pytest.raises(InvalidRunRecordError, match="the metrics of epoch 0"):
        store.add_epoch(rid, 0, {"loop": circular})
    with pytest.raises(InvalidRunRecordError, match="the metrics of epoch 1: expected a mapping"):
        store.add_epoch(rid, 1, [("loss", 1.0)])  # type: ignore[arg-type]
    rec = make_record()
    rec["config"]["loop"] = circular
    with pytest.raises(InvalidRunRecordError, match="config"):
        store.create_run(rec)
    assert [r["run_id"] for r in store.list_runs()] == [rid] and store.get(rid)["epochs"] == []
