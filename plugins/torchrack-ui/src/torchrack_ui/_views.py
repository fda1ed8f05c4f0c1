"""What the pages show, derived from run records and event logs: pure functions, no I/O but stat.

- :class:`RunFilters`: the runs table's filters (status, name, component, tag) from a query string;
- :func:`run_tags`: a run's tags (its own, and one ``role=name`` per component);
- :func:`summary_row`, :func:`sort_entries`: the runs table's rows and their order;
- :func:`curves`: per-epoch metrics (and the per-step training loss) from the event log, the
  record filling in what the log lacks;
- :func:`checkpoints`, :func:`component_verdicts`: the run page's checkpoint list, and each
  recorded component against what is installed now;
- :func:`differences`: what differs between runs, by section.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torchrack.plugins import canonical_dist
from torchrack_runs import redact
from torchrack_runs.cli._runs import flatten  # the same keys as `runs show` and `runs compare`

from torchrack_ui._data import RunEntry, is_number

if TYPE_CHECKING:
    from torchrack.plugins import Registry

__all__ = [
    "STATUSES", "RunFilters", "checkpoints", "component_verdicts", "curves", "differences",
    "duration", "flatten", "metric_names", "run_tags", "sort_entries", "summary_row",
]

#: The statuses a run can have, and the pseudo-status of a record that cannot be read.
STATUSES = ("running", "completed", "failed", "interrupted", "unreadable")

#: Most points of the per-step training-loss curve (a long run's steps are thinned evenly).
MAX_STEP_POINTS = 2000

#: Columns the runs table sorts by besides metrics.
SORT_FIELDS = ("id", "name", "status", "started", "duration", "epochs")


# -- tags and filters ------------------------------------------------------------------------------


def _tag_strings(value: Any) -> list[str]:
    """Tags as a record or config may give them: a list of strings, or a mapping (``k=v``)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [f"{k}={v}" for k, v in value.items() if isinstance(v, (str, int, float, bool))]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if isinstance(v, (str, int, float))]
    return []


def run_tags(record: Mapping[str, Any]) -> list[str]:
    """The run's tags: its own (a ``tags`` field of the record or ``run.tags`` of its config, a
    list or a mapping), then one ``role=name`` per component (``model.backbone=small_cnn``)."""
    tags = _tag_strings(record.get("tags"))
    run = record.get("config", {}).get("run") if isinstance(record.get("config"), Mapping) else None
    if isinstance(run, Mapping):
        tags += _tag_strings(run.get("tags"))
    for comp in record.get("components") or []:
        if isinstance(comp, Mapping) and comp.get("role") and comp.get("name"):
            tags.append(f"{comp['role']}={comp['name']}")
    seen: list[str] = []
    for tag in tags:
        if tag not in seen:
            seen.append(tag)
    return seen


def _component_names(comp: Mapping[str, Any]) -> set[str]:
    """The spellings a filter may use for a component: name, dist:name, kind:name, distribution."""
    name = str(comp.get("name", "")).lower()
    kind = str(comp.get("kind", "")).lower()
    dist = canonical_dist(str(comp.get("distribution", "")))
    return {name, f"{kind}:{name}", f"{dist}:{name}", dist}


@dataclass
class RunFilters:
    """The runs table's filters; an empty one shows every run."""

    status: str = ""
    name: str = ""
    component: str = ""
    tag: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, list[str]]) -> RunFilters:
        """From a parsed query string (``parse_qs``): the last value of each filter, stripped."""
        def last(key: str) -> str:
            values = query.get(key) or [""]
            return values[-1].strip()[:200]

        return cls(last("status").lower(), last("name"), last("component"), last("tag"))

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return bool(self.status or self.name or self.component or self.tag)

    def as_query(self) -> dict[str, str]:
        """The filters that are set, as query-string parameters."""
        return {k: v for k, v in (("status", self.status), ("name", self.name),
                                  ("component", self.component), ("tag", self.tag)) if v}

    def matches(self, entry: RunEntry) -> bool:
        """Whether the run passes every filter. An unreadable run shows when no filter is set,
        or with ``status=unreadable``: nothing else about it can be known."""
        record = entry.record
        if record is None:
            return self.status == "unreadable" or not self.active
        if self.status and record.get("status") != self.status:
            return False
        if self.name and self.name.lower() not in str(record.get("name", "")).lower():
            return False
        if self.component:
            want = self.component.lower()
            wants = {want}
            if ":" in want:  # dist:name with the distribution spelled any way (acme_heads)
                left, _, right = want.partition(":")
                wants.add(f"{canonical_dist(left)}:{right}")
            else:
                wants.add(canonical_dist(want))
            if not any(wants & _component_names(c) for c in record["components"]
                       if isinstance(c, Mapping)):
                return False
        if self.tag:
            tags = run_tags(record)
            if self.tag not in tags and not any(t.startswith(self.tag + "=") for t in tags):
                return False
        return True


# -- the runs table --------------------------------------------------------------------------------


def duration(record: Mapping[str, Any], now: float | None = None) -> float | None:
    """Seconds from the run's start to its end; for a running run, so far (to ``now``, default
    the current time); None when unknown."""
    timings = record.get("timings") or {}
    start, end = timings.get("started_at"), timings.get("ended_at")
    if is_number(start) and is_number(end):
        return max(0.0, float(end) - float(start))
    if is_number(start) and record.get("status") == "running":
        return max(0.0, (time.time() if now is None else now) - float(start))
    return None


def summary_row(entry: RunEntry) -> dict[str, Any]:
    """One row of ``/api/runs``: the run's summary, or its id and why it is unreadable."""
    record = entry.record
    if record is None:
        return {"run_id": entry.run_id, "unreadable": entry.problem}
    timings = record.get("timings") or {}
    return {
        "run_id": record["run_id"],
        "name": record["name"],
        "status": record["status"],
        "error": record.get("error"),
        "started_at": timings.get("started_at"),
        "ended_at": timings.get("ended_at"),
        "duration_seconds": duration(record),
        "epochs": len(record["epochs"]),
        "final_metrics": record["final_metrics"],
        "components": [
            {k: c.get(k) for k in ("role", "kind", "name", "version", "distribution")}
            for c in record["components"]
        ],
        "tags": run_tags(record),
        "unreadable": None,
    }


def metric_names(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The numeric final metrics of these runs, in the order first seen."""
    names: list[str] = []
    for record in records:
        for key, value in (record.get("final_metrics") or {}).items():
            if is_number(value) and key not in names:
                names.append(key)
    return names


def sort_entries(entries: Sequence[RunEntry], key: str, descending: bool) -> list[RunEntry]:
    """``entries`` ordered by ``key`` (a field of :data:`SORT_FIELDS` or a final metric's name).

    Runs without the value (and unreadable runs, but by id) come last in either order; ties
    keep the newest run first.
    """
    def value(entry: RunEntry) -> Any:
        if key == "id":  # known even for an unreadable record
            return int(entry.run_id) if entry.run_id.isdigit() else None
        r = entry.record
        if r is None:
            return None
        if key == "name":
            return str(r["name"]).lower()
        if key == "status":
            return str(r["status"])
        if key == "started":
            start = (r.get("timings") or {}).get("started_at")
            return float(start) if is_number(start) else None
        if key == "duration":
            return duration(r)
        if key == "epochs":
            return len(r["epochs"])
        metric = r["final_metrics"].get(key)
        return float(metric) if is_number(metric) else None

    present = [(value(e), i, e) for i, e in enumerate(entries)]
    have = [p for p in present if p[0] is not None]
    missing = [p[2] for p in present if p[0] is None]
    have.sort(key=lambda p: p[1])  # newest first among ties (entries come newest first)
    have.sort(key=lambda p: p[0], reverse=descending)
    return [p[2] for p in have] + missing


# -- curves ----------------------------------------------------------------------------------------


def _numeric(metrics: Any) -> dict[str, float]:
    if not isinstance(metrics, Mapping):
        return {}
    return {str(k): float(v) for k, v in metrics.items() if is_number(v)}


def curves(record: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The run's curves: ``epochs`` (``[{"epoch": n, "metrics": {...}}]``, numeric metrics only,
    each epoch numbered as the record and its log number it), ``steps`` (``{"loss": [[x, y],
    ...]}``, x in epochs: step k of n in epoch e at ``e - 1 + k / n``, so that an epoch's steps
    lead up to its point) and ``source``: where the epochs came from.

    Epoch numbers are shown as recorded, never shifted: torchrack-runs numbers them 1..N (as the
    trainer prints ``epoch 1/N``); a record of an older torchrack-runs that numbered them from 0
    starts at epoch 0 (which convention a run used is not guessed).

    Epochs come from the event log's ``epoch_end`` events, which the trainer appends as each
    epoch ends, and from the record's epoch rows where the log has none (a run recorded without
    a log). An epoch that a resumed run redid has the values of its last run.
    """
    events = list(events)
    by_epoch: dict[int, dict[str, float]] = {}
    for row in record.get("epochs") or []:
        by_epoch[int(row["epoch"])] = _numeric(row["metrics"])
    from_log = False
    step_events: dict[int, list[tuple[int, dict[str, float]]]] = {}
    ended: set[int] = set()
    for event in events:
        kind, epoch = event.get("type"), event.get("epoch")
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            continue
        if kind == "epoch_end":
            metrics = _numeric(event.get("metrics"))
            if metrics:
                by_epoch[epoch] = {**by_epoch.get(epoch, {}), **metrics}
                from_log = True
            ended.add(epoch)
        elif kind == "epoch_start":
            step_events[epoch] = []  # a redone epoch (resume) starts its steps over
            ended.discard(epoch)
        elif kind == "train_step_end":
            step = event.get("step")
            metrics = _numeric(event.get("metrics"))
            if isinstance(step, int) and not isinstance(step, bool) and metrics:
                step_events.setdefault(epoch, []).append((step, metrics))
    return {
        "epochs": [{"epoch": e, "metrics": by_epoch[e]} for e in sorted(by_epoch)],
        "steps": _step_curves(step_events, ended),
        "source": "events" if from_log else "record",
    }


def _step_curves(step_events: Mapping[int, list[tuple[int, dict[str, float]]]],
                 ended: set[int]) -> dict[str, list[list[float]]]:
    """Per-step series placed within their epoch (epoch e spans ``e - 1`` to ``e``); a log's
    steps may be numbered from 0 or from 1 (the first step of an epoch is placed at ``1 / n``)."""
    all_steps = [s for steps in step_events.values() for s, _ in steps]
    first = 0 if 0 in all_steps else 1
    full = [max(s for s, _ in steps) - first + 1 for e, steps in step_events.items()
            if e in ended and steps]
    typical = max(full) if full else 0
    series: dict[str, list[list[float]]] = {}
    for epoch in sorted(step_events):
        steps = step_events[epoch]
        if not steps:
            continue
        seen = max(s for s, _ in steps) - first + 1
        n = seen if epoch in ended else max(seen, typical)
        for step, metrics in steps:
            for name, value in metrics.items():
                series.setdefault(name, []).append([epoch - 1 + (step - first + 1) / n, value])
    for name, points in series.items():
        if len(points) > MAX_STEP_POINTS:
            stride = -(-len(points) // MAX_STEP_POINTS)
            series[name] = points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])
    return series


# -- checkpoints and components ---------------------------------------------------------------------


def _file_facts(path: str) -> dict[str, Any]:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return {"exists": False, "bytes": None}
    return {"exists": True, "bytes": st.st_size}


def checkpoints(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The run's checkpoints: the latest (``kind`` "latest", written after epoch ``epoch``, as
    the record numbers it) and
    those kept by ``[train.checkpoints]`` (``kind`` "kept", with the monitored value), each with
    whether the file still exists and its size."""
    out: list[dict[str, Any]] = []
    latest = record.get("checkpoint")
    if isinstance(latest, str) and latest:
        epoch = record.get("checkpoint_epoch")
        out.append({"kind": "latest", "path": latest,
                    "epoch": epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None,
                    "monitor": None, "value": None, "best": None, **_file_facts(latest)})
    kept = record.get("checkpoints")
    for item in kept if isinstance(kept, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("path"), str):
            out.append({"kind": "kept", "path": item["path"], "epoch": item.get("epoch"),
                        "monitor": item.get("monitor"), "value": item.get("value"),
                        "best": item.get("best"), **_file_facts(item["path"])})
    return out


def component_verdicts(components: Sequence[Mapping[str, Any]],
                       registry: Registry | None) -> list[dict[str, Any]]:
    """Each recorded component with what is installed now: ``installed`` (the distribution's
    verdict: ok, incompatible, broken, denied, or "not installed"), the installed versions, and
    ``same``: whether the component and distribution versions are the recorded ones."""
    out = []
    for comp in components:
        row = {k: comp.get(k) for k in ("role", "kind", "name", "version", "distribution",
                                        "distribution_version", "entry_point", "files_sha256")}
        plugin = registry.plugin(str(comp.get("distribution", ""))) if registry is not None else None
        if registry is None:
            row.update(installed="unknown", installed_version=None,
                       installed_distribution_version=None, same=None,
                       note="the installed plugins could not be read")
        elif plugin is None:
            row.update(installed="not installed", installed_version=None,
                       installed_distribution_version=None, same=False,
                       note=f"{comp.get('distribution')} is not installed here")
        else:
            found = next((c for c in plugin.components
                          if c.name == comp.get("name") and c.kind == comp.get("kind")), None)
            version = found.version if found is not None else None
            same = version == comp.get("version") and plugin.version == comp.get("distribution_version")
            if found is None:
                note = f"{plugin.name} {plugin.version} no longer provides it"
            elif same:
                note = "the recorded versions are installed"
            else:
                note = (f"installed: {found.kind} {found.name} {version} from {plugin.name} "
                        f"{plugin.version}")
            row.update(installed=plugin.verdict, installed_version=version,
                       installed_distribution_version=plugin.version, same=same and found is not None,
                       note=note, reasons=list(plugin.reasons))
        out.append(row)
    return out


# -- compare ---------------------------------------------------------------------------------------


def _component_facts(components: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for i, c in enumerate(components):
        role = c.get("role") or f"{c.get('kind', 'component')}[{i}]"
        for key in ("name", "version", "distribution", "distribution_version", "files_sha256"):
            facts[f"{role}.{key}"] = c.get(key)
    return facts


_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def differences(records: Sequence[Mapping[str, Any]]
                ) -> tuple[dict[str, dict[str, list[Any]]], dict[str, dict[str, list[bool]]]]:
    """What differs between the runs, by section (components, config, metrics, environment,
    seed): each maps a flattened key to one value per run. Configs and environments are
    redacted. A section with no difference is empty. The second dict says, for the keys that
    some run lacks, which runs lack it (their value is given as None)."""
    sections = {
        "components": [_component_facts(r["components"]) for r in records],
        "config": [flatten(redact(r["config"])) for r in records],
        "metrics": [flatten(r["final_metrics"]) for r in records],
        "environment": [flatten(redact(r["environment"])) for r in records],
        "seed": [{"seed": r.get("seed")} for r in records],
    }
    diffs: dict[str, dict[str, list[Any]]] = {}
    absent: dict[str, dict[str, list[bool]]] = {}
    for name, values in sections.items():
        keys: list[str] = []
        for v in values:
            keys += [k for k in v if k not in keys]
        diffs[name], absent[name] = {}, {}
        for key in keys:
            cells = [v.get(key, _MISSING) for v in values]
            if any(not _same(c, cells[0]) for c in cells[1:]):
                diffs[name][key] = [None if c is _MISSING else c for c in cells]
                if any(c is _MISSING for c in cells):
                    absent[name][key] = [c is _MISSING for c in cells]
    return diffs, absent
