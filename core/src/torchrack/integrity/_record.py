"""Integrity: hash every installed file of a plugin distribution against its RECORD.

Wheel installers write ``RECORD`` (path, ``sha256=`` urlsafe-base64 digest, size) for every file
they install. ``verify_dist`` re-hashes each file and reports it as modified or missing, and lists
files inside the distribution's packages that RECORD does not mention (unexpected). An editable
install has no installed files to check: it is reported as unverifiable, never as passing.
Nothing is imported.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERIFIED = "verified"
MISMATCH = "mismatch"
UNVERIFIABLE = "unverifiable"


@dataclass
class VerifyResult:
    """What ``torchrack verify`` found for one distribution."""

    dist: str
    version: str
    status: str
    modified: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock_mismatches: list[str] = field(default_factory=list)
    note: str = ""
    checked: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "distribution": self.dist,
            "version": self.version,
            "status": self.status,
            "checked_files": self.checked,
            "modified": self.modified,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "lock_mismatches": self.lock_mismatches,
            "note": self.note,
        }


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256=" + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def is_editable(dist_info: Path) -> bool:
    """PEP 610: ``direct_url.json`` says ``dir_info.editable``."""
    try:
        data = json.loads((dist_info / "direct_url.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(data.get("dir_info", {}).get("editable"))


def verify_dist(name: str, version: str, dist_info: str | os.PathLike[str]) -> VerifyResult:
    """Check every file ``dist_info/RECORD`` lists; see the module docstring."""
    info = Path(dist_info)
    result = VerifyResult(name, version, VERIFIED)
    if is_editable(info):
        result.status = UNVERIFIABLE
        result.note = "editable install: its files are the working tree, not an installed release"
        return result
    try:
        text = (info / "RECORD").read_text(encoding="utf-8")
    except OSError:
        result.status = UNVERIFIABLE
        result.note = f"no RECORD in {info}: the installer left nothing to verify against"
        return result
    root = info.parent
    listed: set[Path] = set()
    tops: set[str] = set()
    for row in csv.reader(io.StringIO(text)):
        if not row or not row[0]:
            continue
        rel, digest = row[0], row[1] if len(row) > 1 else ""
        path = (root / rel).resolve()
        listed.add(path)
        first = Path(rel).parts[0]
        if first not in (".", "..") and not first.endswith((".dist-info", ".data")) and (root / first).is_dir():
            tops.add(first)
        if not digest:
            continue  # RECORD itself, and compiled files some installers list without a hash
        if not path.exists():
            result.missing.append(rel)
            continue
        result.checked += 1
        if _digest(path) != digest:
            result.modified.append(rel)
    for top in sorted(tops):
        for path in sorted((root / top).rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            if path.resolve() not in listed:
                result.unexpected.append(path.relative_to(root).as_posix())
    if result.modified or result.missing or result.unexpected:
        result.status = MISMATCH
    return result


def verify_lock(result: VerifyResult, lock: dict[str, Any], current: dict[str, str]) -> None:
    """Compare the lock's component file hashes (by ``dist:name``) with ``current`` hashes."""
    for comp in lock.get("components", []):
        if comp.get("distribution", "").lower().replace("_", "-") != result.dist.lower().replace("_", "-"):
            continue
        key = f"{comp['kind']}:{comp['name']}"
        now = current.get(key)
        if now is None:
            result.lock_mismatches.append(f"{comp['role']} ({key}): locked but no longer provided")
        elif now != comp.get("files_sha256"):
            result.lock_mismatches.append(
                f"{comp['role']} ({key}): files_sha256 locked {comp.get('files_sha256', '')[:12]}..., "
                f"now {now[:12]}..."
            )
        if comp.get("distribution_version") != result.version:
            result.lock_mismatches.append(
                f"{comp['role']} ({key}): version locked {comp.get('distribution_version')}, "
                f"installed {result.version}"
            )
    if result.lock_mismatches:
        result.status = MISMATCH
