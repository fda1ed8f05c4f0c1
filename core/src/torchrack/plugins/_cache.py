"""Discovery's two caches, both never required and never trusted beyond their shape.

- The discovery cache: one file per interpreter and set of ``sys.path`` entries that hold
  distributions, reused while every file it read keeps its stamp (see :func:`scan`).
- The verdict cache: a manifest's schema verdict by the manifest's content (SHA-256), shared by
  every environment of the user (:class:`VerdictBook`, one file).

Both live in :func:`cache_dir`; ``TORCHRACK_NO_CACHE`` turns both off.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import zlib
from pathlib import Path
from typing import Any

from torchrack._kinds import KIND_OF_GROUP
from torchrack._version import __version__
from torchrack.plugins._facts import DistFacts, ScanResult, _read_file, _stamp

#: What a cached scan or manifest verdict was computed for, beside the bytes it read: this
#: torchrack's version and the entry-point groups it knows (a new kind changes both what a scan
#: keeps and which manifests are valid, within one version).
_CACHE_SALT = __version__ + "\0" + ",".join(sorted(KIND_OF_GROUP))

_CACHE_FORMAT = 4  # 4: a METADATA without Version is broken


def cache_dir() -> Path:
    """Where the discovery cache lives: ``$TORCHRACK_CACHE_DIR`` or the user cache folder."""
    if os.environ.get("TORCHRACK_CACHE_DIR"):
        return Path(os.environ["TORCHRACK_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "torchrack"


def cache_enabled() -> bool:
    """False when ``TORCHRACK_NO_CACHE`` is set to anything but ``""``/``0``."""
    return os.environ.get("TORCHRACK_NO_CACHE", "") in ("", "0")


def _cache_key(path: list[str]) -> tuple[Path, str, list[tuple[str, int, int]]]:
    """The cache file, its identity and the stamps of the ``sys.path`` entries that matter.

    Only entries that hold distribution metadata (or are archives) can change what discovery
    finds, so only they are part of the key: the working directory that ``python -m torchrack``
    puts first on ``sys.path``, or the ``bin`` folder of a console script, is left out while it
    holds no ``*.dist-info``, and every folder shares one cache. An entry that gains metadata
    changes the key.
    """
    stamps = [_path_stamp(p or ".") for p in path]
    kept = [s for s in stamps if s[2] > 0 or (s[1] != -1 and not os.path.isdir(s[0]))]
    ident = "\0".join([sys.executable, _CACHE_SALT, *(s[0] for s in kept)])
    # A short checksum names the file; the full ident is stored in it and compared on load, so
    # a checksum collision is only a miss.
    digest = f"{zlib.crc32(ident.encode()):08x}{len(ident):04x}"
    return cache_dir() / f"discovery-{digest}.json", ident, kept


def _path_stamp(entry: str) -> tuple[str, int, int]:
    """What can change which distributions a ``sys.path`` entry holds: its metadata folders.

    A checksum of the sorted ``*.dist-info`` / ``*.egg-info`` names (they carry name and version)
    and their count: unrelated files in the entry, such as a busy working directory that
    ``python -m`` puts first on ``sys.path``, do not invalidate the cache. A zip entry is stamped
    by its modification time.
    """
    try:
        names = os.listdir(entry)
    except NotADirectoryError:
        return _stamp(entry)
    except OSError:
        return (entry, -1, -1)
    metas = sorted(n for n in names if n.endswith((".dist-info", ".egg-info")))
    return (os.path.abspath(entry), zlib.crc32("\0".join(metas).encode()), len(metas))


#: The largest cache file read; a larger one is a miss.
_MAX_CACHE_BYTES = 1 << 30


def _read_cache_file(file: Path) -> bytes:
    """A cache file's bytes (:func:`_read_file`: regular files only, never blocking); OSError
    when it is missing, unreadable, not a regular file or too large, which callers take as a miss."""
    raw, _ = _read_file(str(file), _MAX_CACHE_BYTES + 1)
    if raw is None or len(raw) > _MAX_CACHE_BYTES:
        raise OSError(f"{file}: no cache file to read")
    return raw


def _write_atomic(file: Path, prefix: str, data: bytes) -> None:
    """Write ``data`` to ``file`` whole or not at all: to a temporary name in its folder, then
    renamed (concurrent writers leave one complete file; a failed write leaves no temporary).
    Any OSError (a read-only home, a full disk) is swallowed: a cache is never required."""
    import tempfile

    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=prefix, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        pass


def _load_cache(
    file: Path, ident: str, path_stamps: list[tuple[str, int, int]]
) -> tuple[ScanResult | None, dict[str, DistFacts]]:
    """Read the cache file once. When nothing changed: ``(the cached scan, {})``. Otherwise
    ``(None, reusable)``: from a stale cache of the same interpreter, torchrack version and
    ``sys.path``, the facts of each distribution whose files (metadata, entry points, manifest and
    every place a manifest was looked for) are all unchanged, by folder, so that installing one
    plugin costs one manifest validation, not one per installed plugin."""
    try:
        data = json.loads(_read_cache_file(file))
        if not isinstance(data, dict) or data.get("format") != _CACHE_FORMAT or data.get("ident") != ident:
            return None, {}
        if not _cache_ok(data):
            return None, {}  # well-formed JSON of the wrong shape: never trusted, just a miss
        dists = [DistFacts.from_json(d) for d in data["dists"]]
        unchanged = [all(_stamp(s[0]) == s for s in d.stamps) for d in dists]
        if all(unchanged) and [tuple(s) for s in data["path_stamps"]] == path_stamps:
            return ScanResult(dists, data["torch_version"], from_cache=True), {}
        return None, {d.location: d for d, ok in zip(dists, unchanged, strict=True)
                      if ok and d.location and d.stamps}
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None, {}  # a missing, stale or corrupt cache is just a miss


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _stamps_ok(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(s, list) and len(s) == 3 and isinstance(s[0], str)
        and all(isinstance(n, int) and not isinstance(n, bool) for n in s[1:]) for s in value
    )


def _manifest_ok(manifest: Any) -> bool:
    """The shape vetting relies on (a fresh read checks the full schema before caching)."""
    if manifest is None:
        return True
    if not isinstance(manifest, dict) or not isinstance(manifest.get("api", ""), str):
        return False
    for key in ("components", "hooks", "commands"):
        section = manifest.get(key, {})
        if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
            return False
    for comp in manifest.get("components", {}).values():
        for key, kind in (("kind", str), ("version", str), ("summary", str), ("params", dict),
                          ("inputs", dict), ("outputs", dict), ("devices", list)):
            if key in comp and not isinstance(comp[key], kind):
                return False
    return True


def _cache_ok(data: dict[str, Any]) -> bool:
    """Whether a cache file of the right ident also has the right types throughout."""
    if not _stamps_ok(data.get("path_stamps")) or not isinstance(data.get("dists"), list):
        return False
    if data.get("torch_version") is not None and not isinstance(data["torch_version"], str):
        return False
    fields = {f: None for f in DistFacts._fields}
    for d in data["dists"]:
        if not isinstance(d, dict) or set(d) != set(fields):
            return False
        if not all(isinstance(d[k], str) for k in ("name", "version", "location")):
            return False
        if not _is_str_list(d["requires"]) or not _is_str_list(d["manifest_problems"]):
            return False
        if d["manifest_path"] is not None and not isinstance(d["manifest_path"], str):
            return False
        eps = d["entry_points"]
        if not isinstance(eps, list) or not all(
            isinstance(e, dict) and set(e) == {"group", "name", "value"}
            and all(isinstance(v, str) for v in e.values()) and e["group"] in KIND_OF_GROUP
            for e in eps
        ):
            return False
        if not _stamps_ok(d["stamps"]) or not _manifest_ok(d["manifest"]):
            return False
        compat = d["compat"]
        if compat is not None and not (
            isinstance(compat, dict) and _is_str_list(compat.get("reasons"))
            and _is_str_list(compat.get("warnings")) and _is_str_list(compat.get("broken"))
        ):
            return False
    return True


def _write_cache(
    file: Path, ident: str, path_stamps: list[tuple[str, int, int]], result: ScanResult
) -> None:
    # A file changed within the last two seconds may change again within the same timestamp
    # tick, which a later stat could not tell apart: do not cache such a racy state.
    newest = max([s[1] for d in result.dists for s in d.stamps], default=0)
    if newest > time.time_ns() - 2_000_000_000:
        return
    payload = {
        "format": _CACHE_FORMAT,
        "ident": ident,
        "path_stamps": path_stamps,
        "torch_version": result.torch_version,
        "dists": [d.to_json() for d in result.dists],
    }
    # json.dumps: json's C encoder (json.dump writes token by token)
    _write_atomic(file, ".discovery-", json.dumps(payload, separators=(",", ":")).encode("utf-8"))



# -- the content-addressed cache of manifest verdicts ----------------------------------------------
#
# Checking a manifest against the schema (and each params schema against the metaschema) depends
# on the manifest's bytes and the torchrack version alone. So its problems are remembered by
# content (the SHA-256 of the bytes, salted with the version and the known groups), shared by every
# environment of the user: a new virtualenv with the same plugins validates nothing again.
#
# All verdicts live in one file, ``<cache dir>/manifests/verdicts.json``, read once per scan and
# written once at its end with what the scan added. One file per manifest (the first design) cost
# a cold scan of 1,000 plugins 1,000 small file creations and renames, 0.25 s, more than the
# validation it saved (the compiled checks take ~40 us a manifest), and a warm one 1,000 opens.
# The file is written whole to a temporary name and renamed: concurrent writers leave one
# complete file; each merges what is on disk at the time it writes, so one writer's entries may
# be lost to another's rename, which is only a miss (validated again next time). An unwritable,
# damaged or foreign file is a miss, never an error; at most ``_MAX_VERDICTS`` are kept (the
# newest). ``TORCHRACK_NO_CACHE`` turns it off with the discovery cache.

_VERDICT_FORMAT = 2
_MAX_VERDICTS = 20_000


def manifest_digest(raw: bytes) -> str:
    """The verdict cache's key of a manifest's bytes."""
    import hashlib

    return hashlib.sha256(b"torchrack-manifest\0" + _CACHE_SALT.encode() + b"\0" + raw).hexdigest()


class VerdictBook:
    """The remembered manifest verdicts of one scan: looked up by :func:`manifest_digest`, new
    ones kept until :meth:`save`. Off (every lookup a miss, nothing written) with the caches."""

    def __init__(self) -> None:
        self.file = cache_dir() / "manifests" / "verdicts.json" if cache_enabled() else None
        self._known: dict[str, Any] | None = None
        self._stamp: tuple[str, int, int] | None = None
        self.new: dict[str, list[str]] = {}

    def _load(self) -> dict[str, Any]:
        """The verdicts on disk (``{}`` when there is no usable file), and their file's stamp."""
        if self.file is None:
            return {}
        raw, self._stamp = _read_file(str(self.file), _MAX_CACHE_BYTES + 1)
        try:
            data = json.loads(raw) if raw is not None and len(raw) <= _MAX_CACHE_BYTES else None
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict) or data.get("format") != _VERDICT_FORMAT:
            return {}
        verdicts = data.get("verdicts")
        return verdicts if isinstance(verdicts, dict) else {}

    def get(self, digest: str) -> list[str] | None:
        """The problems remembered for the manifest of ``digest``, or None (not known)."""
        if self._known is None:
            self._known = self._load()
        problems = self._known.get(digest)
        if not isinstance(problems, list) or not all(isinstance(p, str) for p in problems):
            return None  # absent, or an entry of the wrong shape: never trusted, validated again
        return problems

    def put(self, digest: str, problems: list[str]) -> None:
        self.new[digest] = list(problems)

    def save(self) -> None:
        """Write the new verdicts, merged with what is on disk now; failing is only a miss later."""
        if self.file is None or not self.new:
            return
        seen = self._stamp
        known = self._known if self._known is not None else {}
        if seen is None or _stamp(str(self.file)) != seen:
            known = self._load()  # another process wrote since (or it was never read): merge that
        merged = {**{k: v for k, v in known.items() if k not in self.new}, **self.new}
        if len(merged) > _MAX_VERDICTS:
            merged = dict(list(merged.items())[-_MAX_VERDICTS:])
        data = json.dumps({"format": _VERDICT_FORMAT, "verdicts": merged}, separators=(",", ":"))
        _write_atomic(self.file, ".verdicts-", data.encode("utf-8"))
        self._known, self.new = merged, {}
        self._stamp = _stamp(str(self.file))


# -- the listing cache: what `torchrack list` printed, by everything it depends on ----------------
#
# A warm `torchrack list` over thousands of plugins spent most of its time rebuilding, from the
# cached facts, an answer identical to the last one: the facts are shape-checked and turned back
# into objects, every plugin vetted, every component rendered. The text it printed depends only on
# the scanned files (the discovery cache's key and every stamp it checks), the trust settings in
# force and the view asked for (kind, JSON or table, terminal or pipe), so it is remembered by
# those: ``<cache dir>/listing-<checksum>.txt``, one JSON header line (the full key, the sys.path
# stamps, every file stamp, a checksum of the text) and then the text. A hit stats the same
# files as the discovery cache does and prints; anything changed, unreadable or damaged is a miss
# and the listing is computed in full. It is written only from a scan that itself came from a
# valid discovery cache, so the same two-second rule against racy stamps applies.

_LISTING_FORMAT = 1


#: Where a listing is remembered, its full key and the ``sys.path`` stamps it was keyed on.
ListingKey = tuple[Path, str, list[tuple[str, int, int]]]


def listing_key(view: str, settings: str, path: list[str] | None = None) -> ListingKey | None:
    """The listing cache's key of ``view`` under ``settings`` (their repr) on ``path`` (default
    ``sys.path``), or None when the caches are off. Computed once per command: the lookup and,
    on a miss, the write share it (each computation lists every ``sys.path`` entry)."""
    if not cache_enabled():
        return None
    _, ident, path_stamps = _cache_key(sys.path if path is None else path)
    key = "\0".join([f"listing{_LISTING_FORMAT}", ident, view, settings])
    digest = f"{zlib.crc32(key.encode()):08x}{len(key):04x}"
    return cache_dir() / f"listing-{digest}.txt", key, path_stamps


def _digest(text: bytes) -> str:
    """A checksum of the remembered text: it tells damage (a torn write, an edit) from the text
    torchrack wrote. zlib is imported already; hashlib would add its OpenSSL start-up."""
    return f"{zlib.crc32(text):08x}-{len(text)}"


def known_listing(where: ListingKey | None) -> str | None:
    """The text the listing of ``where`` (:func:`listing_key`) printed last time, if every file it
    was computed from is unchanged; else None."""
    if where is None:
        return None
    file, key, path_stamps = where
    try:
        header_line, _, body = _read_cache_file(file).partition(b"\n")
        header = json.loads(header_line)
        if not isinstance(header, dict) or header.get("key") != key:
            return None
        if header.get("path_stamps") != [list(s) for s in path_stamps]:
            return None
        stamps = header.get("stamps")
        if not isinstance(stamps, list) or len(stamps) % 3:
            return None
        current: list[Any] = []
        for p in stamps[0::3]:
            current.extend(_stamp(p))  # a non-string path: TypeError, a miss
        if current != stamps or header.get("checksum") != _digest(body):
            return None
        return body.decode("utf-8")
    except (OSError, ValueError, TypeError, RecursionError):
        return None


def remember_listing(where: ListingKey | None, result: ScanResult, text: str) -> None:
    """Keep ``text`` for :func:`known_listing`; only for a scan that came from the discovery cache."""
    if where is None or not result.from_cache:
        return
    file, key, path_stamps = where
    body = text.encode("utf-8")
    stamps = [x for d in result.dists for s in d.stamps for x in s]
    header = {"format": _LISTING_FORMAT, "key": key, "path_stamps": path_stamps, "stamps": stamps,
              "checksum": _digest(body)}
    # failing (read-only home, full disk): computed again next time
    _write_atomic(file, ".listing-", json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n" + body)
