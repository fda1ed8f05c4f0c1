"""Lock files: the resolved components of a config, with versions and file hashes.

``torchrack lock CONFIG -o LOCK`` writes one; ``torchrack run CONFIG --locked LOCK`` refuses to start
when the environment resolves differently, listing each difference. That is how a team reproduces
or rolls back a run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torchrack._errors import TorchrackError
from torchrack._version import __version__

LOCK_VERSION = 1
_COMPARED = ("name", "version", "distribution", "distribution_version", "entry_point", "files_sha256")


class LockMismatchError(TorchrackError):
    """The environment differs from a lock file; ``differences`` lists each one."""

    def __init__(self, lock: str, differences: list[str]) -> None:
        self.differences = differences
        lines = "\n".join(f"  {d}" for d in differences)
        super().__init__(
            f"the environment differs from {lock}; refusing to start:\n{lines}\n"
            "install the locked versions (or re-lock with `torchrack lock`) and try again"
        )


def make_lock(config_sha256: str, components: list[dict[str, Any]], torch_version: str | None) -> dict[str, Any]:
    return {
        "lock_version": LOCK_VERSION,
        "torchrack": __version__,
        "torch": torch_version,
        "config_sha256": config_sha256,
        "components": components,
    }


def read_lock(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TorchrackError(f"{path}: cannot read the lock file: {exc}") from None
    if not isinstance(data, dict) or data.get("lock_version") != LOCK_VERSION:
        raise TorchrackError(f"{path}: not a torchrack lock file (lock_version {LOCK_VERSION} expected)")
    return data


def compare_lock(lock: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Every difference between a lock and the current resolution, one sentence each."""
    diffs = []
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
    return diffs
