"""The facts discovery reads about a plugin distribution, as plain data (cached as JSON)."""

from __future__ import annotations

import os
import stat
from typing import Any

from torchrack._kinds import KIND_OF_GROUP
from torchrack._record import Record


class EntryPointFact(Record):
    """One ``torchrack.*`` entry point: group, name, ``module:attr`` value."""

    _fields = ("group", "name", "value")

    def __init__(self, group: str, name: str, value: str) -> None:
        self.group = group
        self.name = name
        self.value = value

    @property
    def kind(self) -> str:
        return KIND_OF_GROUP[self.group]

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()


class DistFacts(Record):
    """What can be known about a plugin distribution without importing it.

    ``compat`` is the settings-independent verdict computed by
    ``torchrack.plugins._vetting.compat``, cached with the facts so that a warm scan needs no
    requirement parsing."""

    _fields = ("name", "version", "location", "requires", "entry_points", "manifest_path", "manifest",
               "manifest_problems", "stamps", "compat")

    def __init__(
        self,
        name: str,
        version: str,
        location: str,
        requires: list[str],
        entry_points: list[EntryPointFact],
        manifest_path: str | None,
        manifest: dict[str, Any] | None,
        manifest_problems: list[str] | None = None,
        stamps: list[tuple[str, int, int]] | None = None,
        compat: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.location = location
        self.requires = requires
        self.entry_points = entry_points
        self.manifest_path = manifest_path
        self.manifest = manifest
        self.manifest_problems: list[str] = [] if manifest_problems is None else manifest_problems
        self.stamps: list[tuple[str, int, int]] = [] if stamps is None else stamps
        self.compat = compat

    def to_json(self) -> dict[str, Any]:
        """These facts as JSON data, :meth:`from_json`'s input. The containers are shared, not
        copied (a deep copy of every manifest was most of the write of a
        1,000-plugin cache); the result is only ever serialised."""
        return {
            "name": self.name, "version": self.version, "location": self.location,
            "requires": self.requires,
            "entry_points": [{"group": e.group, "name": e.name, "value": e.value} for e in self.entry_points],
            "manifest_path": self.manifest_path, "manifest": self.manifest,
            "manifest_problems": self.manifest_problems, "stamps": self.stamps, "compat": self.compat,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DistFacts:
        data = dict(data)
        data["entry_points"] = [EntryPointFact(**e) for e in data["entry_points"]]
        data["stamps"] = [tuple(s) for s in data["stamps"]]
        return cls(**data)


class ScanResult(Record):
    """Every plugin distribution found, plus the installed torch version (from metadata)."""

    _fields = ("dists", "torch_version", "from_cache")

    def __init__(self, dists: list[DistFacts], torch_version: str | None, from_cache: bool = False) -> None:
        self.dists = dists
        self.torch_version = torch_version
        self.from_cache = from_cache


def _stamp(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (path, -1, -1)
    return (path, st.st_mtime_ns, st.st_size)


def _read_file(path: str, limit: int) -> tuple[bytes | None, tuple[str, int, int]]:
    """At most ``limit`` bytes of a regular file and its stamp (``_stamp``'s, from the same open
    file: no second stat), or ``(None, stamp)`` when it is missing, unreadable or not a regular
    file. Opened without blocking: a FIFO named METADATA, or put where a cache file belongs, must
    not block discovery. The first read asks for the file's size plus one byte, not ``limit``
    (os.read allocates what it is asked for: a 4 MiB buffer per manifest of a cold scan)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None, (path, -1, -1)
    try:
        st = os.fstat(fd)
        stamp = (path, st.st_mtime_ns, st.st_size)
        if not stat.S_ISREG(st.st_mode):
            return None, stamp
        chunks = [os.read(fd, min(limit, st.st_size + 1))]
        got = len(chunks[0])
        while chunks[-1] and got < limit:  # a short read, or a file that grew since the stat
            chunks.append(os.read(fd, min(limit - got, 1 << 16)))
            got += len(chunks[-1])
        return b"".join(chunks), stamp
    except OSError:
        return None, (path, -1, -1)
    finally:
        os.close(fd)
