"""A run's event log: one JSON object per line (``events.jsonl``), as the event schema describes.

Appends are whole lines written with one ``write`` on an ``O_APPEND`` descriptor under an
exclusive ``flock``, so several processes (the trainer, ``torchrack eval``) can log one run and
``seq`` still increases by one per event. A line torn by a crash is skipped on reading and
never glued to the next event; an append that fails (a full disk) is cut off again, so it leaves
no partial line. Lines are strict JSON: NaN and the infinities are written as ``null``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from torchrack_runs._connection import seal_text
from torchrack_runs._json import dumps, json_default
from torchrack_runs._redact import redact, scrub

try:  # POSIX: serialize appends to one event log across processes
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Version of the run-record and event contracts written by the store.
RECORD_SCHEMA_VERSION = 1

__all__ = ["RECORD_SCHEMA_VERSION", "EventLog", "event_types", "json_default", "make_event", "next_seq"]


def event_types() -> list[str]:
    """The event types that the event schema allows."""
    from torchrack.contracts import load_schema

    types: list[str] = load_schema("event")["properties"]["type"]["enum"]
    return types


def make_event(run_id: str, type: str, fields: Mapping[str, Any],
               secrets: Iterable[str] = ()) -> dict[str, Any]:
    """An event of ``type`` (``seq`` and ``time`` are set when it is appended).

    ``epoch``, ``step``, ``metrics`` and ``data`` in ``fields`` are the event's own fields; any
    other key goes into ``data``. Metrics the schema cannot hold (strings, None) move to
    ``data["other_metrics"]``; ``data`` is redacted and ``secrets`` are scrubbed from its strings.
    """
    types = event_types()
    if type not in types:
        raise ValueError(f"unknown event type {type!r}; expected one of: {', '.join(types)}")
    rest = dict(fields)
    event: dict[str, Any] = {"schema_version": RECORD_SCHEMA_VERSION, "run_id": run_id,
                             "seq": 0, "time": 0.0, "type": type}
    for key in ("epoch", "step"):
        value = rest.pop(key, None)
        if value is not None:
            event[key] = int(value)
    metrics = rest.pop("metrics", None)
    data: dict[str, Any] = dict(rest.pop("data", None) or {})
    data.update(rest)
    if metrics:
        kept, other = _split_metrics(metrics)
        if kept:
            event["metrics"] = kept
        if other:
            data["other_metrics"] = other
    if data:
        event["data"] = _scrub_all(redact(data), tuple(secrets))
    return event


def _split_metrics(metrics: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics the event schema accepts (finite numbers, arrays, objects) and the rest (strings,
    None, NaN and infinities: JSON has no number for those, they are written as null)."""
    kept: dict[str, Any] = {}
    other: dict[str, Any] = {}
    for key, value in metrics.items():
        if hasattr(value, "item") or hasattr(value, "tolist"):  # a tensor or numpy value
            value = json_default(value)
        if isinstance(value, float) and not math.isfinite(value):
            other[str(key)] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            kept[str(key)] = value
        elif isinstance(value, dict):
            kept[str(key)] = redact(value)
        elif isinstance(value, list):
            kept[str(key)] = value
        else:
            other[str(key)] = value
    return kept, other


def _scrub_all(obj: Any, secrets: tuple[str, ...]) -> Any:
    if not secrets:
        return obj
    if isinstance(obj, str):
        return scrub(obj, secrets)
    if isinstance(obj, dict):
        return {k: _scrub_all(v, secrets) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_scrub_all(v, secrets) for v in obj]
    return obj


class EventLog:
    """Appends events to one ``events.jsonl`` file and reads them back. Not thread-safe alone:
    the store serializes calls with its lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: Secret strings replaced by *** in every line written (set by the store: RunStore.seal).
        self.sealed: tuple[str, ...] = ()
        self._size = -1  # file size after our last append; another size means another writer
        self._next = 0

    def append(self, event: dict[str, Any]) -> None:
        """Set ``event``'s ``seq`` and ``time`` and append it as one line."""
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # released by close
            size = os.fstat(fd).st_size
            prefix = b""
            if size != self._size:  # first append here, or another process wrote since
                self._next = next_seq(self.path)
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    prefix = b"\n"  # end a line torn by a crash, so this one stays whole
            event["seq"], event["time"] = self._next, time.time()
            text = dumps(event, canonical=False)
            if self.sealed:
                text = seal_text(text, self.sealed)
            line = prefix + (text + "\n").encode()
            try:
                _write_all(fd, line)
            except BaseException:
                self._size = -1  # whatever happened, look at the file again next time
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)  # no partial line stays behind
                raise
            self._size, self._next = size + len(line), self._next + 1
        finally:
            os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        """The events in order; lines that are not complete JSON objects are skipped."""
        events = []
        with contextlib.suppress(FileNotFoundError), open(self.path, encoding="utf-8") as fh:
            for line in fh:
                with contextlib.suppress(ValueError):
                    item = json.loads(line)
                    if isinstance(item, dict):
                        events.append(item)
        return events


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data``: ``os.write`` may write less (a disk filling up) without raising."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(f"could not append to the event log (write returned {n})")
        view = view[n:]


def next_seq(path: Path) -> int:
    """One more than the ``seq`` of the last complete event in ``path`` (0 for none)."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return 0
    with fh:
        pos = fh.seek(0, os.SEEK_END)
        block, tail = 8192, b""
        while pos > 0:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            tail = fh.read(step) + tail
            lines = tail.split(b"\n")
            # lines[0] may be cut by the block boundary unless the file start is reached
            for line in reversed(lines if pos == 0 else lines[1:]):
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if isinstance(item, dict) and isinstance(item.get("seq"), int):
                    return int(item["seq"]) + 1
            block *= 2
    return 0
