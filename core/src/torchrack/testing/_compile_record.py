"""What the ``compile`` conformance check found, remembered per installed distribution version.

The check needs torch and a compile; ``torchrack info`` must need neither. So each run of the
check writes its result to ``compile-results.json`` in torchrack's cache folder (the one
``TORCHRACK_CACHE_DIR`` moves, off with ``TORCHRACK_NO_CACHE``), keyed by distribution name and
version, then component kind and name; ``info`` reads it back. A new version of a distribution
is unknown until the check runs on it again. This module imports neither torch nor a plugin.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from torchrack.plugins._discovery import cache_dir, cache_enabled

FILE = "compile-results.json"


def _path() -> Path:
    return cache_dir() / FILE


def _load() -> dict[str, Any]:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _key(dist: str, version: str) -> str:
    return f"{dist}=={version}"


@contextlib.contextmanager
def _locked(path: Path) -> Any:
    """Hold an exclusive lock on ``path``'s lock file while reading and rewriting it: parallel
    pytest workers each record their components, and none may drop another's (POSIX; elsewhere
    the last writer wins, which only loses a remembered result)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(FILE + ".lock"), "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def record(dist: str, version: str, kind: str, name: str, status: str, messages: list[str],
           torch_version: str = "") -> None:
    """Remember one result; never fails the check (an unwritable or corrupt cache file is only
    not written, or replaced)."""
    if not cache_enabled():
        return
    path = _path()
    with contextlib.suppress(OSError), _locked(path):
        data = _load()
        entry = data.get(_key(dist, version))
        if not isinstance(entry, dict):  # absent, or a hand-edited file of another shape
            entry = data[_key(dist, version)] = {}
        entry[f"{kind}:{name}"] = {
            "status": status, "messages": list(messages), "torch": torch_version, "checked": int(time.time()),
        }
        tmp = path.with_name(f"{FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)


def lookup(dist: str, version: str, kind: str, name: str) -> dict[str, Any] | None:
    """The last result of the check for this component of this distribution version, or None
    (also for a cache file of any other shape: it is a hint, never trusted further)."""
    if not cache_enabled():
        return None
    entry = _load().get(_key(dist, version))
    found = entry.get(f"{kind}:{name}") if isinstance(entry, dict) else None
    if not (isinstance(found, dict) and isinstance(found.get("status"), str)):
        return None
    messages = found.get("messages")
    found = dict(found)
    found["messages"] = [m for m in messages if isinstance(m, str)] if isinstance(messages, list) else []
    return found
