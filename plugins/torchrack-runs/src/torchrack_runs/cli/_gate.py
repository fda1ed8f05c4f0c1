"""``torchrack runs gate RUN --baseline RUN|best [--max-drop M=D] [--max-rise M=D] [--junit FILE]``.

A regression gate for CI: the candidate run's final metrics against a baseline's. ``--max-drop
accuracy=0.01`` fails when the candidate's accuracy is more than 0.01 below the baseline's,
``--max-rise ece=0.02`` when its ECE is more than 0.02 above (margins are absolute, in the
metric's own unit). A metric is looked up in the record's ``final_metrics`` (nested tables by
dotted name), then in its ``measurements`` (``latency_ms.p50``).

``--baseline best`` is the completed run with the same name as RUN (RUN itself left out) that has
the best value of the first ``--max-drop`` metric (the highest); with only ``--max-rise`` given,
of the first ``--max-rise`` metric (the lowest). Ties go to the older run.

Exit codes: 0 no regression, 1 a regression, 2 bad input (an unknown run or store, a candidate
that did not complete, a metric absent from either record, a margin that does not parse, no
check asked for). ``--junit FILE`` writes one testcase per check, named after the metric, a
regression's failure carrying the baseline, the candidate and the margin; it is written whole
or not at all. The store is opened read-only: the gate never writes it.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchrack import TorchrackError
from torchrack.cli.output import table

from torchrack_runs.cli._common import PATH

#: Exit codes.
PASSED, REGRESSED, BAD_INPUT = 0, 1, 2

#: A margin's metric: a report name, dotted into tables (``per_class.cat``, ``latency_ms.p50``).
METRIC = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$")

#: What two floats may differ by and still count as equal (``0.95 - 0.01`` is ``0.9399...``).
TOLERANCE = 1e-12


class GateInputError(TorchrackError):
    """The gate cannot decide: a run, a metric or a value it needs is not there."""


@dataclass(frozen=True)
class Margin:
    """One rule: ``metric`` may move in the bad direction by at most ``limit``."""

    metric: str
    limit: float
    rule: str  # "max_drop" or "max_rise"

    @property
    def words(self) -> str:
        return f"{self.rule.replace('_', ' ')} {self.limit:g}"


@dataclass(frozen=True)
class Check:
    """The outcome of one rule: both values, the change and whether it regressed."""

    margin: Margin
    baseline: float
    candidate: float

    @property
    def change(self) -> float:
        return self.candidate - self.baseline

    @property
    def regressed(self) -> bool:
        worse = -self.change if self.margin.rule == "max_drop" else self.change
        return worse > self.margin.limit + TOLERANCE

    def sentence(self, base_id: str, cand_id: str) -> str:
        verb = "dropped" if self.change < 0 else "rose"
        amount = f"{verb} by {abs(self.change):.6g}" if self.change else "did not change"
        allowed = "more than" if self.regressed else "within"
        return (f"{self.margin.metric} {amount} (baseline run {base_id}: {self.baseline:.6g}, "
                f"candidate run {cand_id}: {self.candidate:.6g}), {allowed} the allowed "
                f"{self.margin.words}")


def _margin(rule: str) -> Any:
    def parse(text: str) -> Margin:
        metric, sep, value = text.rpartition("=")
        metric = metric.strip()
        if not sep or not metric:
            raise argparse.ArgumentTypeError(f"expected METRIC=MARGIN (e.g. accuracy=0.01), not {text!r}")
        if not METRIC.match(metric):
            raise argparse.ArgumentTypeError(f"{metric!r} is not a metric name (letters, digits, _ . - /)")
        try:
            limit = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"the margin of {metric} must be a number (e.g. {metric}=0.01), not {value.strip()!r}"
            ) from None
        if not math.isfinite(limit) or limit < 0:
            raise argparse.ArgumentTypeError(f"the margin of {metric} must be a finite number, 0 or "
                                             f"more, not {value.strip()}")
        return Margin(metric, limit, rule)

    parse.__name__ = rule.replace("_", "-")  # argparse names the option's type in its errors
    return parse


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``gate`` to the ``runs`` subcommands."""
    p = sub.add_parser("gate", parents=[common],
                       help="exit 1 when a run's metrics regressed against a baseline run (CI)",
                       description=__doc__.split("\n\n", 1)[1].split("\n\nExit codes")[0])
    p.add_argument("run", metavar="RUN", help="the candidate: a run id or 'latest'")
    p.add_argument("--baseline", required=True, metavar="RUN|best",
                   help="a run id, 'latest', or 'best' (the best completed run of the same name)")
    p.add_argument("--max-drop", action="append", default=[], type=_margin("max_drop"),
                   metavar="METRIC=MARGIN", help="fail if METRIC is lower than the baseline's by "
                   "more than MARGIN (repeatable), e.g. accuracy=0.01")
    p.add_argument("--max-rise", action="append", default=[], type=_margin("max_rise"),
                   metavar="METRIC=MARGIN", help="fail if METRIC is higher than the baseline's by "
                   "more than MARGIN (repeatable), e.g. ece=0.02")
    p.add_argument("--junit", type=PATH, metavar="FILE", help="also write the checks as JUnit XML")


# -- looking things up -----------------------------------------------------------------------------


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.update(_flat(value, f"{prefix}{key}."))
    elif prefix:
        out[prefix[:-1]] = obj
    return out


def metric_values(record: dict[str, Any]) -> dict[str, Any]:
    """A record's metrics by dotted name: its final metrics, then its measurements."""
    return {**_flat(record.get("measurements") or {}), **_flat(record.get("final_metrics") or {})}


def metric_value(record: dict[str, Any], metric: str, role: str) -> float:
    """``metric`` of ``record`` as a finite number, or :class:`GateInputError` saying why not."""
    values = metric_values(record)
    rid = record["run_id"]
    if metric not in values:
        known = ", ".join(k for k, v in values.items() if _number(v) is not None) or "none"
        raise GateInputError(f"the {role} run {rid} has no final metric {metric!r} (its metrics: {known})")
    number = _number(values[metric])
    if number is None:
        raise GateInputError(f"{metric} of the {role} run {rid} is not a finite number "
                             f"({values[metric]!r}); gate on another metric")
    return number


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def best_baseline(store: Any, candidate: dict[str, Any], margin: Margin) -> dict[str, Any]:
    """The completed run named like ``candidate`` (not itself) with the best ``margin.metric``:
    the highest for a max-drop rule, the lowest for a max-rise one; ties go to the older run."""
    best: tuple[float, int, dict[str, Any]] | None = None
    for row in store.list_runs():
        if (row["status"] != "completed" or row["name"] != candidate["name"]
                or row["run_id"] == candidate["run_id"]):
            continue
        record = store.get(row["run_id"])
        value = _number(metric_values(record).get(margin.metric))
        if value is None:
            continue
        key = (value if margin.rule == "max_drop" else -value, -int(row["run_id"]))
        if best is None or key > best[:2]:
            best = (key[0], key[1], record)
    if best is None:
        raise GateInputError(
            f"no baseline for 'best': no completed run named {candidate['name']!r} other than run "
            f"{candidate['run_id']} has the metric {margin.metric!r}; name a baseline run instead"
        )
    return best[2]


# -- the gate --------------------------------------------------------------------------------------


def evaluate(candidate: dict[str, Any], baseline: dict[str, Any], margins: list[Margin]) -> list[Check]:
    """Every rule checked; every missing metric reported at once (:class:`GateInputError`)."""
    checks: list[Check] = []
    problems: list[str] = []
    for margin in margins:
        values = []
        for record, role in ((baseline, "baseline"), (candidate, "candidate")):
            try:
                values.append(metric_value(record, margin.metric, role))
            except GateInputError as exc:
                if str(exc) not in problems:
                    problems.append(str(exc))
        if len(values) == 2:
            checks.append(Check(margin, values[0], values[1]))
    if problems:
        raise GateInputError("; ".join(problems))
    return checks


def junit_xml(checks: list[Check], candidate: dict[str, Any], baseline: dict[str, Any],
              baseline_ref: str) -> str:
    """The checks as a JUnit XML document: one testcase per check, named after its metric."""
    import xml.etree.ElementTree as ET

    failures = sum(c.regressed for c in checks)
    cid, bid = candidate["run_id"], baseline["run_id"]
    root = ET.Element("testsuites", name="torchrack runs gate", tests=str(len(checks)),
                      failures=str(failures), errors="0")
    suite = ET.SubElement(root, "testsuite", name=f"torchrack runs gate: run {cid} against run {bid}",
                          tests=str(len(checks)), failures=str(failures), errors="0", skipped="0",
                          time="0")
    props = ET.SubElement(suite, "properties")
    for name, value in (("candidate", cid), ("candidate_name", candidate.get("name") or ""),
                        ("baseline", bid), ("baseline_ref", baseline_ref)):
        ET.SubElement(props, "property", name=name, value=str(value))
    for check in checks:
        case = ET.SubElement(suite, "testcase", classname=f"torchrack.runs.gate.{check.margin.rule}",
                             name=check.margin.metric, time="0")
        detail = (f"metric: {check.margin.metric}\nbaseline (run {bid}): {check.baseline!r}\n"
                  f"candidate (run {cid}): {check.candidate!r}\nchange: {check.change:+.6g}\n"
                  f"margin: {check.margin.words}")
        if check.regressed:
            failure = ET.SubElement(case, "failure", type="regression", message=check.sentence(bid, cid))
            failure.text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(store_path: Path, args: argparse.Namespace) -> int:
    """``runs gate``: print the checks; exit 0, 1 (a regression) or 2 (bad input)."""
    try:
        return _gate(store_path, args)
    except TorchrackError as exc:
        print(f"torchrack runs gate: error: {exc}", file=sys.stderr)
        return BAD_INPUT


def _gate(store_path: Path, args: argparse.Namespace) -> int:
    from torchrack_runs._store import RunStore

    margins: list[Margin] = [*args.max_drop, *args.max_rise]
    if not margins:
        raise GateInputError("nothing to check: give --max-drop METRIC=MARGIN and/or --max-rise "
                             "METRIC=MARGIN (e.g. --max-drop accuracy=0.01)")
    with RunStore(store_path, create=False, read_only=True) as store:
        candidate = store.get(args.run)
        if candidate["status"] != "completed":
            raise GateInputError(f"the candidate run {candidate['run_id']} is {candidate['status']}, "
                                 "not completed: only a completed run's metrics can be gated")
        if args.baseline.strip().lower() == "best":
            baseline = best_baseline(store, candidate, margins[0])
            how = (f"the best {margins[0].metric} among completed runs named "
                   f"{candidate['name']!r}")
        else:
            baseline = store.get(args.baseline)
            how = "given"
    checks = evaluate(candidate, baseline, margins)
    cid, bid = candidate["run_id"], baseline["run_id"]
    if args.junit:
        try:
            write_atomically(Path(args.junit), junit_xml(checks, candidate, baseline, args.baseline))
        except OSError as exc:
            raise GateInputError(f"cannot write the JUnit file {args.junit}: {exc.strerror or exc}") from None
    print(f"gate: candidate run {cid} ({candidate['name'] or '-'}) against baseline run {bid} "
          f"({baseline['name'] or '-'}; {how})")
    print(table(("METRIC", "RULE", "BASELINE", "CANDIDATE", "CHANGE", "RESULT"), [
        (c.margin.metric, c.margin.words, f"{c.baseline:.6g}", f"{c.candidate:.6g}",
         f"{c.change:+.6g}", "REGRESSION" if c.regressed else "ok") for c in checks]))
    bad = [c for c in checks if c.regressed]
    for c in bad:
        print(f"regression: {c.sentence(bid, cid)}")
    print(f"gate {'failed' if bad else 'passed'}: {len(bad)} of {len(checks)} checks regressed"
          + (f"; JUnit written to {args.junit}" if args.junit else ""))
    return REGRESSED if bad else PASSED
