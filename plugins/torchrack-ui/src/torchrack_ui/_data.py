"""Reading the run store for the dashboard: read-only, one run at a time, bad records kept apart.

:class:`StoreView` opens the store with :class:`torchrack_runs.RunStore` in read-only mode (SQLite
``mode=ro``: the dashboard never writes, never migrates the schema and never marks runs
interrupted) and reads each run by itself, so that one damaged record (a JSON column that is not
JSON, a field of the wrong type) makes that run "unreadable", with the reason, and every other run
still shows. The store is in WAL mode, so reading while ``torchrack run`` writes it needs no lock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from torchrack_runs import REDACTED, RunNotFoundError, RunStore, StoreError, redact

from torchrack_ui._events import EventTails

__all__ = ["RunEntry", "StoreView", "check_record", "is_number", "safe_record"]

#: Seconds a read waits for a writer's transaction before the page says the store is busy.
READ_TIMEOUT = 5.0

# The record fields the pages use, and the JSON type each must have.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "run_id": (str,), "name": (str,), "status": (str,), "config": (dict,), "components": (list,),
    "environment": (dict,), "epochs": (list,), "final_metrics": (dict,), "timings": (dict,),
}


def is_number(value: Any) -> TypeGuard[int | float]:
    """Whether ``value`` is a finite int or float (not a bool): something a chart can plot."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def check_record(record: Any) -> str | None:
    """Why ``record`` cannot be shown (a field missing or of the wrong type), or None.

    Only what the pages rely on is checked, so a record from a newer torchrack with more fields
    still shows; the message names the field, what was expected and what was found.
    """
    if not isinstance(record, dict):
        return f"the record is a {type(record).__name__}, not an object"
    for field, types in _FIELD_TYPES.items():
        value = record.get(field)
        if not isinstance(value, types):
            return (f"its field {field!r} should be a JSON {_json_type(types[0])}, found "
                    f"{_json_name(value)}")
    for i, comp in enumerate(record["components"]):
        if not isinstance(comp, dict):
            return f"components[{i}] should be an object, found {_json_name(comp)}"
    for i, epoch in enumerate(record["epochs"]):
        if not isinstance(epoch, dict) or not isinstance(epoch.get("epoch"), int) \
                or not isinstance(epoch.get("metrics"), dict):
            return f"epochs[{i}] should be an object with an integer epoch and metrics, found {_json_name(epoch)}"
    return None


def _json_type(t: type) -> str:
    names = {"dict": "object", "list": "array", "str": "string"}
    return names.get(t.__name__, t.__name__)


def _json_name(value: Any) -> str:
    if value is None:
        return "nothing (null or missing)"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def safe_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record as pages and the API show it: the config and the environment redacted again.

    The store redacts secrets before it writes a config (and seals known secret values), so a
    stored config holds ``***`` in their place; redacting again here means that a record written
    by an older or a patched writer still never shows a value under a sensitive key.
    """
    out = dict(record)
    out["config"] = redact(record.get("config") or {})
    out["environment"] = redact(record.get("environment") or {})
    for key in ("evaluations", "warnings", "stopped"):
        if key in out:
            out[key] = redact(out[key])
    return out


@dataclass
class RunEntry:
    """One run as the store gave it: the record, or why it could not be read."""

    run_id: str
    record: dict[str, Any] | None
    problem: str | None = None

    @property
    def readable(self) -> bool:
        """Whether the record could be read and shown."""
        return self.record is not None


class StoreView:
    """The run store at ``path``, opened read-only, with its runs' event logs.

    Raises :class:`torchrack_runs.StoreNotFoundError` when there is no store at ``path`` and
    :class:`torchrack_runs.StoreError` when the file is not a run store. Safe to share between
    the server's threads.
    """

    def __init__(self, path: str | Path, *, timeout: float = READ_TIMEOUT) -> None:
        self.store = RunStore(path, create=False, read_only=True, timeout=timeout)
        self.path: Path = self.store.path
        self.tails = EventTails()

    def close(self) -> None:
        """Close the database connection."""
        self.store.close()

    def run_ids(self) -> list[str]:
        """Every run id, newest first."""
        return self.store.latest_ids(2**62)

    def resolve(self, ref: str) -> str:
        """The run id that ``ref`` (an id or ``latest``) names; :class:`RunNotFoundError` if none."""
        return self.store.resolve(ref)

    def entry(self, run_id: str) -> RunEntry:
        """Run ``run_id`` read by itself: a damaged record gives an entry with its problem.

        Raises :class:`RunNotFoundError` for a run the store does not have.
        """
        try:
            record = self.store.get(run_id)
        except RunNotFoundError:
            raise
        except StoreError as exc:
            return RunEntry(str(run_id), None, str(exc))
        problem = check_record(record)
        if problem is not None:
            return RunEntry(str(run_id), None, problem)
        return RunEntry(str(run_id), record)

    def entries(self, limit: int | None = None) -> tuple[list[RunEntry], int]:
        """The newest ``limit`` runs (all when None) each read by itself, and how many there are."""
        ids = self.run_ids()
        shown = ids if limit is None else ids[:limit]
        out = []
        for rid in shown:
            try:
                out.append(self.entry(rid))
            except RunNotFoundError:  # removed between the listing and the read
                continue
        return out, len(ids)

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """The run's events so far (whole lines only; a torn line is skipped), redacted."""
        path = self.store.events_path(run_id)
        return [_redact_event(e) for e in self.tails.read(path)]


def _redact_event(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    if isinstance(data, Mapping):
        return {**event, "data": redact(dict(data))}
    return event


#: What a redacted value looks like in a record (re-exported for the pages).
REDACTED_VALUE = REDACTED
