"""Integrity: hash every installed file of a plugin distribution against its RECORD.

Wheel installers write ``RECORD`` (path, ``<algorithm>=`` urlsafe-base64 digest, size) for every
file they install. ``verify_dist`` re-hashes each file and reports what does not match. Nothing is
imported, and ``RECORD`` is treated as hostile input:

- **modified**: the file's size or digest differs from RECORD's;
- **missing**: RECORD lists it, it is not there;
- **unexpected**: a file inside the distribution's packages that RECORD does not mention;
- **unhashed**: RECORD lists the file without a hash, so nothing proves it unchanged. Only
  ``RECORD`` itself and compiled files (``*.pyc``, ``__pycache__/``) may lack one;
- **weak**: RECORD's hash is weaker than SHA-256 (md5, sha1, sha224...): refused, not trusted and
  not called tampering. Any hashlib algorithm with a digest of 256 bits or more is accepted
  (sha256, sha384, sha512, sha3_256, blake2b, ...), as PEP 376 and the wheel spec allow;
- **outside**: the path resolves (symlinks followed) outside the distribution's folder, such as
  ``../../etc/passwd`` or ``/dev/zero``: reported and never read. An installer puts console scripts
  and data files in the environment's own ``bin/`` and data folders; entries there are reported as
  **not checked** (never read) and are not a failure;
- **unreadable**: a directory, FIFO, device or socket, or a file that cannot be opened: only
  regular files are ever opened (checked with ``lstat`` first, opened with ``O_NONBLOCK`` and
  ``O_NOFOLLOW``, checked again with ``fstat``), so nothing can make it block;
- **problems**: a RECORD that cannot be read (not UTF-8, not CSV, larger than
  :data:`MAX_RECORD_BYTES`, not a regular file) or a row that cannot be used (an unknown hash
  algorithm, a digest that is not base64 of the right length, a path with a NUL byte).

Any of these but *not checked* makes the distribution a ``mismatch`` (``torchrack verify`` exits
1). An editable install has no installed release to check: it is ``unverifiable``, never passing;
what its RECORD does list is still checked, and a mismatch there is reported as one.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import hmac
import io
import json
import os
import re
import stat
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERIFIED = "verified"
MISMATCH = "mismatch"
UNVERIFIABLE = "unverifiable"

#: The largest RECORD read (bytes); a larger one is a problem, not a hang or a MemoryError.
MAX_RECORD_BYTES = 16 * 1024 * 1024
#: The largest ``direct_url.json`` read (bytes).
MAX_DIRECT_URL_BYTES = 1024 * 1024
#: The weakest accepted digest, in bytes (SHA-256's).
MIN_DIGEST_BYTES = 32

#: Algorithms known to be weak, refused without being computed (some, such as md5, are not even
#: available where OpenSSL runs in FIPS mode). Any other with a digest under 256 bits is weak too.
_WEAK = {"md4", "md5", "md5-sha1", "mdc2", "ripemd160", "sha1", "sha224", "sha3_224", "sha512_224"}
_ALGORITHM = re.compile(r"[a-z0-9_\-]{1,32}")
_CHUNK = 1 << 20
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,200}[A-Za-z0-9])?")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]{0,100}")


def _fix(name: str, version: str) -> str:
    """How to repair a distribution that does not verify. Its name and version come from its
    METADATA, so they go into a command only when they are plain PEP 508 / PEP 440 tokens."""
    if _NAME.fullmatch(name) and _VERSION.fullmatch(version):
        return f"reinstall it from a trusted index: pip install --force-reinstall --no-deps '{name}=={version}'"
    return "reinstall the distribution from a trusted index (pip install --force-reinstall --no-deps)"


@dataclass
class VerifyResult:
    """What ``torchrack verify`` found for one distribution (paths as RECORD spells them)."""

    dist: str
    version: str
    status: str
    modified: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock_mismatches: list[str] = field(default_factory=list)
    note: str = ""
    checked: int = 0
    unhashed: list[str] = field(default_factory=list)
    weak: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def failures(self) -> bool:
        """Whether anything found makes this distribution a mismatch."""
        return bool(self.modified or self.missing or self.unexpected or self.unhashed or self.weak
                    or self.outside or self.unreadable or self.problems or self.lock_mismatches)

    def to_json(self) -> dict[str, Any]:
        return {
            "distribution": self.dist,
            "version": self.version,
            "status": self.status,
            "checked_files": self.checked,
            "modified": self.modified,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "unhashed": self.unhashed,
            "weak": self.weak,
            "outside": self.outside,
            "unreadable": self.unreadable,
            "not_checked": self.not_checked,
            "problems": self.problems,
            "lock_mismatches": self.lock_mismatches,
            "note": self.note,
        }


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


_NOBLOCK = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _open_regular(path: str, *, follow: bool) -> int:
    """A descriptor of the regular file at ``path``; OSError (with a reason) for anything else.

    The type is checked before opening (a device is never opened) and again on the descriptor
    (nothing swapped in between is read); ``O_NONBLOCK`` keeps a FIFO from blocking the open.
    """
    st = os.stat(path) if follow else os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{_kind(st.st_mode)}, not a regular file")
    fd = os.open(path, _NOBLOCK | (0 if follow else getattr(os, "O_NOFOLLOW", 0)))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{_kind(st.st_mode)}, not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_capped(path: str, cap: int) -> bytes:
    """At most ``cap + 1`` bytes of the regular file at ``path`` (symlinks followed)."""
    fd = _open_regular(path, follow=True)
    with os.fdopen(fd, "rb") as fh:
        return fh.read(cap + 1)


def _hash_file(path: str, algorithm: str, size: int) -> tuple[bytes, int]:
    """The digest of the regular file at ``path`` (no symlink followed) and how many bytes it
    has; reads at most ``size + 1`` bytes, so a file growing while it is read stays bounded."""
    fd = _open_regular(path, follow=False)
    h = hashlib.new(algorithm)
    n = 0
    with os.fdopen(fd, "rb") as fh:
        while n <= size:
            chunk = fh.read(min(_CHUNK, size + 1 - n))
            if not chunk:
                break
            n += len(chunk)
            h.update(chunk)
    return h.digest(), n


def _digest(path: Path) -> str:
    """``sha256=<urlsafe base64>`` of a regular file, as RECORD writes it."""
    fd = _open_regular(os.fspath(path), follow=True)
    h = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return "sha256=" + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def is_editable(dist_info: Path) -> bool:
    """PEP 610: ``direct_url.json`` says ``dir_info.editable`` (a bad file says nothing)."""
    try:
        raw = _read_capped(os.path.join(dist_info, "direct_url.json"), MAX_DIRECT_URL_BYTES)
        if len(raw) > MAX_DIRECT_URL_BYTES:
            return False
        data = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    dir_info = data.get("dir_info") if isinstance(data, dict) else None
    return isinstance(dir_info, dict) and dir_info.get("editable") is True


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _scheme_dirs(root: str) -> list[str]:
    """Where an installer puts a distribution's scripts and data when ``root`` is this
    interpreter's site-packages (its ``bin/``, ``include/`` and data folders); else none."""
    dirs: list[str] = []
    for scheme in sysconfig.get_scheme_names():
        try:
            paths = sysconfig.get_paths(scheme)
        except (KeyError, ValueError):  # a scheme this platform cannot expand
            continue
        if root in (os.path.realpath(paths.get("purelib", "")), os.path.realpath(paths.get("platlib", ""))):
            dirs += [os.path.realpath(paths[k]) for k in ("scripts", "data", "include", "platinclude")
                     if paths.get(k)]
    return [d for d in dict.fromkeys(dirs) if d != os.sep]


def _files_under(folder: str) -> list[str]:
    """Every non-folder entry under ``folder`` but compiled files, sorted; symlinked folders are
    not followed, and the walk keeps its own stack (a folder nested thousands deep is no
    RecursionError, as it is for :func:`os.walk` before Python 3.12)."""
    out: list[str] = []
    stack = [folder]
    while stack:
        here = stack.pop()
        try:
            with os.scandir(here) as entries:
                items = sorted(entries, key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in items:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                if entry.name != "__pycache__":
                    subdirs.append(entry.path)
            elif not entry.name.endswith(".pyc"):
                out.append(entry.path)
        stack.extend(reversed(subdirs))
    return sorted(out)


def _algorithm(name: str) -> tuple[str, int] | str:
    """``(hashlib name, digest size)`` of an acceptable algorithm, ``"weak"``, or ``"unknown"``."""
    alg = name.strip().lower()
    if not _ALGORITHM.fullmatch(alg):
        return "unknown"
    if alg in _WEAK:
        return "weak"
    try:
        size = hashlib.new(alg).digest_size
    except (ValueError, TypeError):
        return "unknown"
    if size == 0:  # shake_128 / shake_256: no fixed digest size, so not a RECORD hash
        return "unknown"
    return "weak" if size < MIN_DIGEST_BYTES else (alg, size)


def _decode_digest(text: str, size: int) -> bytes | None:
    value = text.strip().rstrip("=")
    try:
        raw = base64.b64decode(value.translate(str.maketrans("-_", "+/")) + "=" * (-len(value) % 4),
                               validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == size else None


def _read_record(path: str) -> tuple[list[tuple[int, list[str]]] | None, str]:
    """RECORD's rows with their line numbers, or ``(None, why it cannot be read)``;
    ``(None, "")`` when there is no RECORD."""
    try:
        raw = _read_capped(path, MAX_RECORD_BYTES)
    except (FileNotFoundError, NotADirectoryError):
        return None, ""
    except OSError as exc:
        return None, f"{path}: cannot read RECORD: {exc.strerror or exc}"
    if len(raw) > MAX_RECORD_BYTES:
        return None, (f"{path}: RECORD is larger than {MAX_RECORD_BYTES} bytes, far more than any "
                      "installer writes: it was not read")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, (f"{path}: RECORD is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                      f"{exc.start}): it cannot be read")
    rows: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        return None, f"{path}: RECORD is not CSV (line {reader.line_num}: {exc}): it cannot be read"
    return rows, ""


def verify_dist(
    name: str, version: str, dist_info: str | os.PathLike[str], *, packages: Iterable[str] = ()
) -> VerifyResult:
    """Check every file ``dist_info/RECORD`` lists; see the module docstring.

    ``packages``: top-level packages the distribution provides (say, from its entry points), whose
    folders are searched for unexpected files even when RECORD does not mention them."""
    result = VerifyResult(name, version, VERIFIED)
    fix = _fix(name, version)
    if not os.fspath(dist_info):
        result.status = UNVERIFIABLE
        result.note = "no installed metadata folder (*.dist-info) is known for it: nothing to verify against"
        return result
    info = Path(dist_info)
    editable = is_editable(info)
    record = os.path.join(info, "RECORD")
    rows, why = _read_record(record)
    if rows is None and not why:
        result.status = UNVERIFIABLE
        result.note = ("editable install: its files are the working tree, not an installed release" if editable
                       else f"no RECORD in {info}: the installer left nothing to verify against")
        return result
    if rows is None:
        result.problems.append(f"{why}; {fix}")
        rows = []
    elif not any(any(cell.strip() for cell in row) for _, row in rows):
        result.problems.append(f"{record}: RECORD lists no file at all, not even its own metadata; {fix}")
    root = os.path.realpath(info.parent)
    record_real = os.path.realpath(record)
    env_dirs: list[str] | None = None
    listed: set[str] = set()
    tops: set[str] = set()
    digests: dict[tuple[str, str], tuple[bytes, int]] = {}
    for line, row in rows:
        if not row or not row[0].strip():
            if any(cell.strip() for cell in row):
                result.problems.append(f"{record}, line {line}: a row without a path; {fix}")
            continue
        rel = row[0]
        if len(row) > 3:
            result.problems.append(
                f"{record}, line {line}: expected 3 fields (path,hash,size), found {len(row)}; {fix}")
            continue
        hash_field = row[1].strip() if len(row) > 1 else ""
        size_field = row[2].strip() if len(row) > 2 else ""
        if "\0" in rel:
            result.problems.append(f"{record}, line {line}: the path {rel!r} contains a NUL byte; {fix}")
            continue
        lexical = os.path.normpath(os.path.join(info.parent, rel))
        real = os.path.realpath(lexical)
        listed.update((lexical, real))
        if not _inside(real, root):
            if env_dirs is None:
                env_dirs = _scheme_dirs(root)
            if any(_inside(real, d) for d in env_dirs):
                result.not_checked.append(rel)
            else:
                result.outside.append(rel)
            continue
        parts = Path(os.path.relpath(real, root)).parts
        if len(parts) > 1 and not parts[0].endswith((".dist-info", ".data")) and parts[0] != "__pycache__":
            tops.add(parts[0])
        if real == record_real:
            continue  # RECORD cannot hold its own hash
        cache = real.endswith(".pyc") or "__pycache__" in parts
        try:
            st = os.lstat(real)
        except FileNotFoundError:
            if hash_field or not cache:
                result.missing.append(rel)
            continue
        except OSError:
            result.unreadable.append(rel)
            continue
        if not stat.S_ISREG(st.st_mode):
            result.unreadable.append(rel)
            continue
        if not hash_field:
            if not cache:
                result.unhashed.append(rel)
            continue
        alg_name, sep, encoded = hash_field.partition("=")
        alg = _algorithm(alg_name) if sep else "unknown"
        if alg == "weak":
            result.weak.append(rel)
            continue
        if isinstance(alg, str):
            result.problems.append(
                f"{record}, line {line}: {rel}: hash {alg_name[:40]!r} is not '<algorithm>=<digest>' with "
                f"an algorithm hashlib provides (such as sha256); {fix}")
            continue
        algorithm, size = alg
        expected = _decode_digest(encoded, size)
        if expected is None:
            result.problems.append(
                f"{record}, line {line}: {rel}: the {algorithm} digest is not urlsafe base64 of {size} "
                f"bytes; {fix}")
            continue
        result.checked += 1
        if size_field.isdigit() and int(size_field) != st.st_size:
            result.modified.append(rel)
            continue
        key = (real, algorithm)
        try:
            if key not in digests:
                digests[key] = _hash_file(real, algorithm, st.st_size)
            got, n = digests[key]
        except OSError:
            result.checked -= 1
            result.unreadable.append(rel)
            continue
        if n != st.st_size or not hmac.compare_digest(got, expected):
            result.modified.append(rel)
    if not editable:
        for pkg in packages:
            if pkg and os.sep not in pkg and "/" not in pkg and pkg not in (".", ".."):
                real = os.path.realpath(os.path.join(root, pkg))
                if os.path.dirname(real) == root and os.path.isdir(real):
                    tops.add(pkg)
    for top in sorted(tops):
        for path in _files_under(os.path.join(root, top)):
            if path not in listed and os.path.realpath(path) not in listed:
                result.unexpected.append(Path(os.path.relpath(path, root)).as_posix())
    if result.failures:
        result.status = MISMATCH
        if editable:
            result.note = ("claims to be an editable install (direct_url.json), but what its RECORD "
                           f"lists does not match; {fix}")
        else:
            result.note = fix
    elif editable:
        result.status = UNVERIFIABLE
        result.note = "editable install: its files are the working tree, not an installed release"
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
