"""Sweeps: ``/sweeps`` (every sweep) and ``/sweeps/<id>`` (one sweep, a row per trial).

Read through :meth:`torchrack_runs.RunStore.get_sweep` and ``list_sweeps`` (the tables of
``torchrack_runs._sweep_store``). A store without a ``sweeps`` table (one written before sweeps
existed), or a torchrack-runs whose store has no such methods, gets a clear "no sweeps" answer,
never an error. A sweep reads as (fields the page does not know are ignored):

    {"sweep_id": "1", "name": "lr-search", "status": "completed", "method": "grid",
     "objective": {"metric": "accuracy", "mode": "max"},
     "parameters": {"optimizer.params.lr": [0.01, 0.1]},
     "trials": [{"trial": 1, "point": {"optimizer.params.lr": 0.01}, "status": "completed",
                 "run_id": "3", "objective": 0.97, "final_metrics": {"accuracy": 0.97}}],
     "best_run": "3"}
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torchrack_ui._data import is_number
from torchrack_ui._format import (
    ABSENT,
    Context,
    badge,
    fmt_number,
    fmt_time,
    section,
    status_badge,
    table,
    value_cell,
)
from torchrack_ui._html import Markup, h, page, url
from torchrack_ui._views import flatten

__all__ = ["SWEEP_ID", "find_sweep", "has_sweeps_table", "list_sweeps", "normalize_sweep",
           "records_sweeps", "sweep_page", "sweeps_missing", "sweeps_page"]

#: What a sweep reference may look like (anything else is a 404 without asking the store).
SWEEP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

#: Why a store without sweeps has none.
NO_SWEEPS = ("this store records no sweeps (the installed torchrack-runs has none: sweeps come "
             "with `torchrack sweep`)")

#: Why a store whose database has no sweeps table has none.
NO_SWEEPS_TABLE = ("this store records no sweeps (it has no sweeps table: it was written before "
                   "`torchrack sweep` existed)")


def has_sweeps_table(path: Path) -> bool:
    """Whether the SQLite file at ``path`` has a ``sweeps`` table (opened read-only, ``mode=ro``;
    a file that cannot be read has none)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except (sqlite3.Error, OSError, ValueError):
        return False
    try:
        row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sweeps'"
                           ).fetchone()
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return row is not None


def sweeps_missing(store: Any) -> str | None:
    """Why ``store`` (a :class:`torchrack_runs.RunStore`) has no sweeps to show, or None when
    it records them: its torchrack-runs has no sweep methods, or its file no sweeps table."""
    if not (callable(getattr(store, "get_sweep", None)) and callable(getattr(store, "list_sweeps", None))):
        return NO_SWEEPS
    path = getattr(store, "path", None)
    if isinstance(path, Path) and not has_sweeps_table(path):
        return NO_SWEEPS_TABLE
    return None


def records_sweeps(store: Any) -> bool:
    """Whether ``store`` (a :class:`torchrack_runs.RunStore`) records sweeps."""
    return sweeps_missing(store) is None


def find_sweep(store: Any, sweep_id: str) -> tuple[dict[str, Any] | None, str]:
    """The sweep ``sweep_id`` (an id or ``latest``) of ``store``, or None and why not (the
    store's own message naming its latest sweeps, or that it records none)."""
    if not SWEEP_ID.fullmatch(sweep_id):
        return None, f"{sweep_id[:40]!r} is not a sweep id (1, 2, ... or latest)"
    missing = sweeps_missing(store)
    if missing is not None:
        return None, missing
    try:
        found = store.get_sweep(sweep_id)
    except LookupError as exc:
        return None, str(exc)
    if not isinstance(found, Mapping):
        return None, f"the store gave no sweep for {sweep_id!r}"
    return normalize_sweep(found, sweep_id), ""


def list_sweeps(store: Any) -> list[dict[str, Any]] | None:
    """Summary rows of the store's sweeps, newest first; None when it records no sweeps."""
    if not records_sweeps(store):
        return None
    rows = store.list_sweeps()
    return [dict(r) for r in rows if isinstance(r, Mapping)]


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def normalize_sweep(raw: Mapping[str, Any], sweep_id: str) -> dict[str, Any]:
    """A sweep with every field the page reads present and of the right type: one entry per
    trial (from ``trials``, or else ``runs``), each with its point, status, run and objective."""
    objective = _mapping(raw.get("objective"))
    metric = objective.get("metric")
    items = raw.get("trials") if isinstance(raw.get("trials"), list) else raw.get("runs")
    trials = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, Mapping):
            continue
        final = _mapping(item.get("final_metrics"))
        value = item.get("objective")
        if not is_number(value) and isinstance(metric, str):
            value = final.get(metric)
        trials.append({
            "trial": item.get("trial", i + 1),
            "run_id": None if item.get("run_id") is None else str(item["run_id"]),
            "point": _mapping(item.get("point")),
            "status": str(item.get("status", "")),
            "objective": value if is_number(value) else None,
            "error": item.get("error") if isinstance(item.get("error"), str) else None,
            "final_metrics": final,
        })
    best = raw.get("best_run")
    return {
        "sweep_id": str(raw.get("sweep_id", sweep_id)),
        "name": str(raw.get("name") or ""),
        "status": str(raw.get("status") or ""),
        "error": raw.get("error") if isinstance(raw.get("error"), str) else None,
        "method": str(raw.get("method") or ""),
        "objective": {"metric": metric, "mode": objective.get("mode")},
        "parameters": _mapping(raw.get("parameters")),
        "created_at": raw.get("created_at"),
        "trials": trials,
        "best_run": None if best is None else str(best),
    }


def sweep_page(ctx: Context, sweep: Mapping[str, Any]) -> Markup:
    """One sweep: its objective and search space, and a row per trial with its point, status,
    run and objective value (the best one marked)."""
    metric = sweep["objective"].get("metric")
    keys: list[str] = []
    for trial in sweep["trials"]:
        keys += [k for k in flatten(trial["point"]) if k and k not in keys]
    rows = []
    for trial in sweep["trials"]:
        point = flatten(trial["point"])
        rid = trial["run_id"]
        best = badge("best", "ok") if rid is not None and rid == sweep["best_run"] else ""
        rows.append((str(trial["trial"]), h("a", f"run {rid}", href=url("/runs", rid)) if rid else ABSENT,
                     best, status_badge(trial["status"]), *(value_cell(point.get(k)) for k in keys),
                     fmt_number(trial["objective"]) if trial["objective"] is not None else ABSENT,
                     h("span", trial["error"], class_="reason") if trial["error"] else ""))
    ids = [t["run_id"] for t in sweep["trials"] if t["run_id"]]
    parts: list[Any] = [
        h("h1", "Sweep ", h("span", sweep["name"] or sweep["sweep_id"], class_="run-name"), " ",
          h("small", f"sweep {sweep['sweep_id']}"), " ", status_badge(sweep["status"])),
        h("p", f"{sweep['method'] or 'sweep'} · objective: {sweep['objective'].get('mode') or '?'} "
               f"{metric or '?'} · {len(sweep['trials'])} trials · started {fmt_time(sweep['created_at'])}",
          class_="note"),
    ]
    if sweep["error"]:
        parts.append(h("p", h("strong", "error: "), sweep["error"], class_="run-error"))
    parts += [
        section("Search space", table(("parameter", "values"),
                                      [(h("code", k), value_cell(v)) for k, v in flatten(sweep["parameters"]).items()
                                       if k], empty="not recorded")),
        section("Trials", table(("trial", "run", "", "status", *keys, metric or "objective", ""), rows,
                                class_="sweep-trials", element_id="sweep-trials", empty="no trials yet")),
    ]
    if len(ids) >= 2:
        parts.append(h("p", h("a", f"compare these {min(len(ids), 12)} runs",
                              href=url("/compare", query={"runs": ",".join(ids[:12])}))))
    return page(f"sweep {sweep['sweep_id']}", parts, store=ctx.store, active="sweeps", version=ctx.version)


def sweeps_page(ctx: Context, sweeps: Sequence[Mapping[str, Any]] | None,
                why: str = NO_SWEEPS) -> Markup:
    """Every sweep of the store, newest first; None: the store records none, ``why`` says why."""
    if sweeps is None:
        body: Any = h("p", why, class_="empty", id="no-sweeps")
    else:
        body = table(("id", "name", "status", "method", "objective", "trials", "done", "failed", "started"),
                     [(h("a", s.get("sweep_id"), href=url("/sweeps", str(s.get("sweep_id")))),
                       h("a", s.get("name") or ABSENT, href=url("/sweeps", str(s.get("sweep_id")))),
                       status_badge(s.get("status")),
                       s.get("method") or ABSENT,
                       f"{s.get('direction') or ''} {s.get('objective') or ''}".strip() or ABSENT,
                       str(s.get("trials", ABSENT)), str(s.get("done", ABSENT)), str(s.get("failed", ABSENT)),
                       fmt_time(s.get("created_at"))) for s in sweeps],
                     class_="sweeps", element_id="sweeps-table",
                     empty="no sweeps recorded yet: `torchrack sweep CONFIG` records one")
    return page("Sweeps", [h("h1", "Sweeps"), body], store=ctx.store, active="sweeps", version=ctx.version)
