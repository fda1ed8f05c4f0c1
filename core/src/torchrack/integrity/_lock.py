"""Lock files, as read by ``torchrack verify --lock`` and ``torchrack run --locked``.

A lock (written by ``torchrack lock``, torchrack-runs) is JSON::

    {"lock_version": 1, "torchrack": "0.1.0", "torch": "2.13.0", "config_sha256": "...",
     "components": [{"role": "loss", "kind": "loss", "name": "focal", "version": "1.0.0",
                     "distribution": "acme-losses", "distribution_version": "1.2.0",
                     "entry_point": "acme.losses:Focal", "files_sha256": "..."}, ...]}

:func:`read_lock` checks that shape and names the file, the entry and the field of any problem.
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any

from torchrack._errors import TorchrackError

LOCK_VERSION = 1

#: Fields every locked component has (strings).
COMPONENT_FIELDS = ("role", "kind", "name", "version", "distribution", "distribution_version",
                    "entry_point", "files_sha256")

#: The largest lock file read (bytes).
MAX_LOCK_BYTES = 16 * 1024 * 1024


class InvalidLockError(TorchrackError, ValueError):
    """A lock file that cannot be used: unreadable, not JSON, or not of the lock's shape."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def read_lock(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check the lock file at ``path``; raise :class:`InvalidLockError` naming the problem."""
    where = os.fspath(path)
    fix = "write it again with `torchrack lock CONFIG -o LOCK`"
    try:
        st = os.stat(where)
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
            raise InvalidLockError(f"{where}: not a regular file (a FIFO or device?); give the path of a lock file", where)
        with open(where, "rb") as fh:
            raw = fh.read(MAX_LOCK_BYTES + 1)
    except IsADirectoryError:
        raise InvalidLockError(f"{where}: is a folder, not a lock file", where) from None
    except OSError as exc:
        raise InvalidLockError(f"{where}: cannot read the lock file: {exc.strerror or exc}", where) from None
    if len(raw) > MAX_LOCK_BYTES:
        raise InvalidLockError(f"{where}: larger than {MAX_LOCK_BYTES} bytes: not a lock file", where)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidLockError(f"{where}: not a JSON lock file ({type(exc).__name__}: {exc}); {fix}", where) from None
    if not isinstance(data, dict) or data.get("lock_version") != LOCK_VERSION:
        raise InvalidLockError(
            f"{where}: not a torchrack lock file (expected an object with lock_version {LOCK_VERSION}); {fix}", where
        )
    comps = data.get("components")
    if not isinstance(comps, list):
        raise InvalidLockError(f"{where}: /components must be a list of locked components; {fix}", where)
    if not comps:
        raise InvalidLockError(f"{where}: locks no components, so it cannot pin anything; {fix}", where)
    for i, comp in enumerate(comps):
        if not isinstance(comp, dict):
            raise InvalidLockError(f"{where}: /components/{i} must be an object, found {type(comp).__name__}; {fix}", where)
        for key in COMPONENT_FIELDS:
            if not isinstance(comp.get(key), str):
                found = "missing" if key not in comp else f"{type(comp[key]).__name__}"
                raise InvalidLockError(f"{where}: /components/{i}/{key} must be a string, found {found}; {fix}", where)
    for key in ("torch", "torchrack", "config_sha256"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise InvalidLockError(f"{where}: /{key} must be a string or null; {fix}", where)
    return data
