"""`torchrack runs gate`: exit 1 on a regression beyond the margin, 0 otherwise, 2 on bad input;
JUnit XML naming each checked metric. Real run stores, the real CLI entry point."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from torchrack.cli import main
from torchrack_runs._store import RunStore

from ._store_helpers import make_record


def _finished(store: RunStore, accuracy: float, ece: float = 0.05, *, name: str = "digits",
              status: str = "completed", **extra: Any) -> str:
    rid = store.create_run(make_record(name))
    store.add_epoch(rid, 1, {"accuracy": accuracy})
    store.finish_run(rid, status, {"accuracy": accuracy, "ece": ece, **extra}, None, {"train_seconds": 1.0})
    return rid


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite")


def _gate(capsys: pytest.CaptureFixture[str], store: RunStore, *argv: str) -> tuple[int, str, str]:
    code = main(["runs", "gate", *argv, "--store", str(store.path)])
    out, err = capsys.readouterr()
    return code, out, err


def _junit(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def test_a_drop_beyond_the_margin_exits_1_and_the_junit_names_the_metric(
    store: RunStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _finished(store, 0.95)
    cand = _finished(store, 0.92)
    junit = tmp_path / "reports" / "gate.xml"
    code, out, _ = _gate(capsys, store, cand, "--baseline", base, "--max-drop", "accuracy=0.01",
                         "--junit", str(junit))
    assert code == 1
    assert "REGRESSION" in out and "gate failed: 1 of 1 checks regressed" in out
    assert f"accuracy dropped by 0.03 (baseline run {base}: 0.95, candidate run {cand}: 0.92), " \
           "more than the allowed max drop 0.01" in out
    root = _junit(junit)
    assert root.tag == "testsuites" and root.get("tests") == "1" and root.get("failures") == "1"
    [case] = root.iter("testcase")
    assert case.get("name") == "accuracy" and case.get("classname") == "torchrack.runs.gate.max_drop"
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "regression"
    message = failure.get("message") or ""
    assert "baseline run 1: 0.95" in message and "candidate run 2: 0.92" in message
    assert "max drop 0.01" in message
    detail = failure.text or ""
    assert "baseline (run 1): 0.95" in detail and "candidate (run 2): 0.92" in detail
    assert "margin: max drop 0.01" in detail
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["candidate"] == cand and props["baseline"] == base


@pytest.mark.parametrize(("candidate", "ece", "expected"), [
    (0.945, 0.05, 0),   # dropped by 0.005: within 0.01
    (0.94, 0.05, 0),    # dropped by exactly the margin: not more than it
    (0.97, 0.01, 0),    # better on both
    (0.95, 0.071, 1),   # ece rose by 0.021 > 0.02
    (0.939, 0.05, 1),   # dropped by 0.011 > 0.01
])
def test_margins_are_absolute_and_inclusive(store: RunStore, tmp_path: Path, candidate: float,
                                            ece: float, expected: int,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    base = _finished(store, 0.95, 0.05)
    cand = _finished(store, candidate, ece)
    junit = tmp_path / "g.xml"
    code, out, _ = _gate(capsys, store, cand, "--baseline", base, "--max-drop", "accuracy=0.01",
                         "--max-rise", "ece=0.02", "--junit", str(junit))
    assert code == expected, out
    root = _junit(junit)
    names = [(c.get("classname"), c.get("name")) for c in root.iter("testcase")]
    assert names == [("torchrack.runs.gate.max_drop", "accuracy"), ("torchrack.runs.gate.max_rise", "ece")]
    assert root.get("failures") == str(sum(c.find("failure") is not None for c in root.iter("testcase")))
    assert (root.get("failures") != "0") == bool(expected)


def test_best_is_the_best_completed_run_of_the_same_name(store: RunStore,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    _finished(store, 0.90, 0.03)
    best = _finished(store, 0.97, 0.06)
    _finished(store, 0.97, 0.02)                      # a tie: the older run stays the best
    _finished(store, 0.99, status="failed")           # not completed
    _finished(store, 0.995, name="other-experiment")  # another name
    cand = _finished(store, 0.955, 0.04)
    code, out, _ = _gate(capsys, store, cand, "--baseline", "best", "--max-drop", "accuracy=0.01")
    assert code == 1
    assert f"against baseline run {best} (digits; the best accuracy among completed runs named 'digits')" in out
    # with only --max-rise, best is the lowest value of its first metric
    code, out, _ = _gate(capsys, store, cand, "--baseline", "best", "--max-rise", "ece=0.01")
    assert code == 1 and "against baseline run 3" in out and "ece rose by 0.02" in out
    code, out, _ = _gate(capsys, store, cand, "--baseline", "best", "--max-rise", "ece=0.05")
    assert code == 0 and "gate passed: 0 of 1 checks regressed" in out


def test_nested_final_metrics_by_dotted_name(store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    base = _finished(store, 0.9, per_class={"cat": 0.8})
    cand = _finished(store, 0.9, per_class={"cat": 0.7})
    code, out, _ = _gate(capsys, store, cand, "--baseline", base, "--max-drop", "per_class.cat=0.05")
    assert code == 1 and "per_class.cat dropped by 0.1" in out


@pytest.mark.parametrize(("argv", "expected"), [
    (["9", "--baseline", "1", "--max-drop", "accuracy=0.01"], "9"),
    (["2", "--baseline", "42", "--max-drop", "accuracy=0.01"], "42"),
    (["2", "--baseline", "1", "--max-drop", "top5_accuracy=0.01"],
     "the baseline run 1 has no final metric 'top5_accuracy' (its metrics: accuracy, ece); "
     "the candidate run 2 has no final metric 'top5_accuracy'"),
    (["2", "--baseline", "1"], "nothing to check: give --max-drop METRIC=MARGIN"),
    (["3", "--baseline", "1", "--max-drop", "accuracy=0.01"], "the candidate run 3 is failed, not completed"),
    (["2", "--baseline", "1", "--max-drop", "nll=0.01"], "nll of the baseline run 1 is not a finite number"),
    (["2", "--baseline", "best", "--max-drop", "nll=0.01"],
     "no baseline for 'best': no completed run named 'digits' other than run 2 has the metric 'nll'"),
    (["2", "--baseline", "1", "--max-drop", "accuracy"],
     "argument --max-drop: expected METRIC=MARGIN (e.g. accuracy=0.01), not 'accuracy'"),
    (["2", "--baseline", "1", "--max-drop", "accuracy=abc"],
     "the margin of accuracy must be a number (e.g. accuracy=0.01), not 'abc'"),
    (["2", "--baseline", "1", "--max-rise", "ece=-0.1"],
     "the margin of ece must be a finite number, 0 or more, not -0.1"),
    (["2", "--baseline", "1", "--max-rise", "ece=nan"], "the margin of ece must be a finite number"),
    (["2", "--baseline", "1", "--max-rise", "=0.1"], "expected METRIC=MARGIN"),
    (["2", "--max-rise", "ece=0.1"], "the following arguments are required: --baseline"),
])
def test_bad_input_exits_2_saying_what_and_writes_no_junit(
    store: RunStore, tmp_path: Path, argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _finished(store, 0.95, nll=float("nan"))
    _finished(store, 0.93, nll=float("nan"))
    _finished(store, 0.99, status="failed")
    junit = tmp_path / "gate.xml"
    code, out, err = _gate(capsys, store, *argv, "--junit", str(junit))
    assert code == 2, (out, err)
    assert expected in err and "Traceback" not in err
    assert not junit.exists()


def test_an_unknown_store_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["runs", "gate", "1", "--baseline", "2", "--max-drop", "accuracy=0.1",
                 "--store", str(tmp_path / "nowhere.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and "torchrack runs gate: error:" in err and "nowhere.sqlite" in err
    assert not (tmp_path / "nowhere.sqlite").exists()


def test_the_gate_never_writes_the_store(store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    base = _finished(store, 0.95)
    cand = _finished(store, 0.90)
    store.close()

    def digest() -> dict[str, str]:
        """The store's files by content (SQLite may leave an empty WAL beside a reader)."""
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in store.path.parent.iterdir()
                if p.is_file() and not p.name.endswith("-shm") and p.stat().st_size}

    before = digest()
    code, _, _ = _gate(capsys, store, cand, "--baseline", base, "--max-drop", "accuracy=0.01")
    assert code == 1 and digest() == before
