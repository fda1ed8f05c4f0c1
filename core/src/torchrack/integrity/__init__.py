"""Integrity: installed files against their RECORD, built wheels vetted unopened, lock files.

- :func:`verify_dist`: every file a distribution's ``RECORD`` lists, re-hashed (tampering);
- :func:`read_wheel` / :func:`vet_wheel`: a built wheel's verdict from its metadata and manifest,
  without installing, importing or executing anything from it;
- :func:`tree_sha256` / :func:`component_sha256`: the file hashes run records and locks carry;
- :func:`read_lock`: a lock file, its shape checked.
"""

from torchrack.integrity._hashing import component_sha256, tree_sha256
from torchrack.integrity._lock import COMPONENT_FIELDS, LOCK_VERSION, InvalidLockError, read_lock
from torchrack.integrity._record import (
    MISMATCH,
    UNVERIFIABLE,
    VERIFIED,
    VerifyResult,
    is_editable,
    verify_dist,
    verify_lock,
)
from torchrack.integrity._wheel import InvalidWheelError, installed_torch, read_wheel, vet_wheel

__all__ = [
    "COMPONENT_FIELDS",
    "LOCK_VERSION",
    "MISMATCH",
    "UNVERIFIABLE",
    "VERIFIED",
    "InvalidLockError",
    "InvalidWheelError",
    "VerifyResult",
    "component_sha256",
    "installed_torch",
    "is_editable",
    "read_lock",
    "read_wheel",
    "tree_sha256",
    "verify_dist",
    "verify_lock",
    "vet_wheel",
]
