"""Lock files: the resolved components of a config, with versions and file hashes.

``torchrack lock CONFIG -o LOCK`` writes one; ``torchrack run CONFIG --locked LOCK`` refuses to start
when the config or the environment resolves differently, listing each difference: a component's
versions and file hashes, the libraries its distribution wraps (``wraps``) and the content of the
data its params name (``data_sha256``). That is how a
team reproduces or rolls back a run. The file format and its reader are the core's
(:func:`torchrack.integrity.read_lock`, used by ``torchrack verify --lock`` too).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from torchrack import TorchrackError, __version__
from torchrack.integrity import LOCK_VERSION, read_lock

__all__ = ["LOCK_VERSION", "LockMismatchError", "compare_lock", "make_lock", "read_lock", "write_lock"]

_COMPARED = ("name", "version", "distribution", "distribution_version", "entry_point", "files_sha256")


class LockMismatchError(TorchrackError):
    """The config or environment differs from a lock file; ``differences`` lists each one."""

    def __init__(self, lock: str, differences: list[str]) -> None:
        self.differences = differences
        lines = "\n".join(f"  {d}" for d in differences)
        super().__init__(
            f"this config and environment differ from {lock}; refusing to start:\n{lines}\n"
            "install the locked versions, restore the locked config (or re-lock with "
            "`torchrack lock`) and try again"
        )


def make_lock(config_sha256: str, components: list[dict[str, Any]], torch_version: str | None) -> dict[str, Any]:
    return {
        "lock_version": LOCK_VERSION,
        "torchrack": __version__,
        "torch": torch_version,
        "config_sha256": config_sha256,
        "components": components,
    }


def write_lock(lock: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``lock`` to ``path`` atomically; the error names the file and the cause."""
    out = Path(path)
    if out.is_dir():
        raise TorchrackError(f"{out}: is a folder; give -o the path of a lock file to write")
    if not out.parent.is_dir():
        raise TorchrackError(f"{out}: the folder {out.parent} does not exist; create it first")
    text = json.dumps(lock, indent=2) + "\n"
    try:
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise TorchrackError(f"{out}: cannot write the lock file: {exc.strerror or exc}; nothing was written") from None


def compare_lock(lock: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Every difference between a lock and the current resolution, one sentence each."""
    diffs = []
    if lock.get("config_sha256") and lock.get("config_sha256") != current.get("config_sha256"):
        diffs.append(
            f"config: locked sha256 {str(lock.get('config_sha256'))[:12]}..., now "
            f"{str(current.get('config_sha256'))[:12]}... (the config file or its --set overrides changed)"
        )
    if lock.get("torch") != current.get("torch"):
        diffs.append(f"torch: locked {lock.get('torch')}, installed {current.get('torch')}")
    locked = {c["role"]: c for c in lock.get("components", [])}
    now = {c["role"]: c for c in current.get("components", [])}
    for role in sorted(set(locked) | set(now)):
        a, b = locked.get(role), now.get(role)
        if a is None:
            diffs.append(f"{role}: not in the lock (config now uses {b and b['name']})")
            continue
        if b is None:
            diffs.append(f"{role}: locked {a['name']} but the config no longer uses it")
            continue
        for key in _COMPARED:
            if a.get(key) != b.get(key):
                diffs.append(f"{role} ({a['kind']} {a['name']}): {key} locked {a.get(key)}, now {b.get(key)}")
        diffs.extend(_mapping_diffs(a, b, role))
    return diffs


def _mapping_diffs(a: dict[str, Any], b: dict[str, Any], role: str) -> list[str]:
    """Differences in a component's wrapped libraries (``wraps``) and data (``data_sha256``).
    A lock written before these fields pins neither: only fields the lock has are compared."""
    who = f"{role} ({a['kind']} {a['name']})"
    out = []
    for key, what, fix in (("wraps", "library", "install the locked version"),
                           ("data_sha256", "data", "restore the locked data, or re-lock")):
        locked, now = a.get(key), b.get(key) or {}
        if not isinstance(locked, dict):
            continue
        for name in sorted(set(locked) | set(now)):
            was, found = locked.get(name, "absent"), now.get(name, "absent")
            if was == found:
                continue
            if key == "wraps":
                out.append(f"{who}: {what} {name} locked {was or 'not installed'}, installed "
                           f"{found or 'not installed'} ({fix})")
            else:
                short = [v[:12] + "..." if isinstance(v, str) and len(v) == 64 else v or "missing"
                         for v in (was, found)]
                out.append(f"{who}: {what} of params.{name} changed: locked sha256 {short[0]}, now "
                           f"{short[1]} (the files it names differ; {fix})")
    return out
