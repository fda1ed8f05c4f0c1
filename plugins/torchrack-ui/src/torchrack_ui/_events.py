"""Following a run's event log (``events.jsonl``) while the trainer appends to it.

:class:`EventTail` remembers how far it has read and parses only the bytes appended since, so a
page that polls a training run every second reads each line once. Only whole lines are read: the
line the trainer is writing right now waits for the next poll, and a line torn by a crash (no
valid JSON) is skipped, as :meth:`torchrack_runs.RunStore.read_events` does. A file that shrank or
was replaced is read again from the start. Nothing here ever writes.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

__all__ = ["EventTail", "EventTails"]

#: Most bytes parsed in one read: a huge log is followed in steps, never loaded whole at once.
CHUNK = 16 * 1024 * 1024


class EventTail:
    """The events of one ``events.jsonl``, read incrementally; thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._offset = 0
        self._inode: tuple[int, int] | None = None
        self._events: list[dict[str, Any]] = []

    def _reset(self) -> None:
        self._offset, self._inode, self._events = 0, None, []

    def read(self) -> list[dict[str, Any]]:
        """Every complete event so far, in file order (a new list; the dicts are shared)."""
        with self._lock:
            try:
                st = os.stat(self.path)
            except OSError:  # not written yet, or the run folder is gone
                self._reset()
                return []
            inode = (st.st_dev, st.st_ino)
            if inode != self._inode or st.st_size < self._offset:
                self._reset()
                self._inode = inode
            while st.st_size > self._offset:
                try:
                    with open(self.path, "rb") as fh:
                        fh.seek(self._offset)
                        chunk = fh.read(min(st.st_size - self._offset, CHUNK))
                except OSError:
                    break
                end = chunk.rfind(b"\n")
                if end < 0:
                    break  # a line still being written: next time
                for line in chunk[: end + 1].splitlines():
                    try:
                        item = json.loads(line)
                    except ValueError:
                        continue  # torn by a crash
                    if isinstance(item, dict):
                        self._events.append(item)
                self._offset += end + 1
            return list(self._events)


class EventTails:
    """One :class:`EventTail` per event-log path, the ``size`` most recently used kept (each
    holds its log's events in memory)."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._tails: OrderedDict[Path, EventTail] = OrderedDict()

    def read(self, path: Path) -> list[dict[str, Any]]:
        """The complete events of the log at ``path`` (see :meth:`EventTail.read`)."""
        with self._lock:
            tail = self._tails.pop(path, None) or EventTail(path)
            self._tails[path] = tail
            while len(self._tails) > self.size:
                self._tails.popitem(last=False)
        return tail.read()
