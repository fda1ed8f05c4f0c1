"""Discovery: find plugin distributions and read their static facts, importing no plugin.

For every installed distribution this reads ``entry_points.txt``; for those with a
``torchrack.*`` group it also reads ``METADATA`` (name, version, ``Requires-Dist``) and the
static manifest ``torchrack-manifest.json`` from the plugin's top-level package (located through
the distribution's folder or ``importlib.util.find_spec``, which also finds editable installs).
These facts, including the manifest's schema verdict, are cached on disk, keyed on ``sys.path``
entries and the modification times of every file read; see :func:`scan`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torchrack._kinds import KIND_OF_GROUP
from torchrack._version import __version__

#: What a cached scan or manifest verdict was computed for, beside the bytes it read: this
#: torchrack's version and the entry-point groups it knows (a new kind changes both what a scan
#: keeps and which manifests are valid, within one version).
_CACHE_SALT = __version__ + "\0" + ",".join(sorted(KIND_OF_GROUP))

# importlib.metadata, importlib.util, tempfile and jsonschema are imported only by a full scan:
# a warm `torchrack list` reads the cache and never needs them.

MANIFEST_NAME = "torchrack-manifest.json"
_CACHE_FORMAT = 4  # 4: a METADATA without Version is broken
_DIST_DIR = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+?)\.(dist|egg)-info$")


@dataclass
class EntryPointFact:
    """One ``torchrack.*`` entry point: group, name, ``module:attr`` value."""

    group: str
    name: str
    value: str

    @property
    def kind(self) -> str:
        return KIND_OF_GROUP[self.group]

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()


@dataclass
class DistFacts:
    """What can be known about a plugin distribution without importing it."""

    name: str
    version: str
    location: str
    requires: list[str]
    entry_points: list[EntryPointFact]
    manifest_path: str | None
    manifest: dict[str, Any] | None
    manifest_problems: list[str] = field(default_factory=list)
    stamps: list[tuple[str, int, int]] = field(default_factory=list)
    #: The settings-independent verdict computed by ``torchrack.plugins._vetting.compat``, cached with
    #: the facts so that a warm scan needs no requirement parsing.
    compat: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DistFacts:
        data = dict(data)
        data["entry_points"] = [EntryPointFact(**e) for e in data["entry_points"]]
        data["stamps"] = [tuple(s) for s in data["stamps"]]
        return cls(**data)


@dataclass
class ScanResult:
    """Every plugin distribution found, plus the installed torch version (from metadata)."""

    dists: list[DistFacts]
    torch_version: str | None
    from_cache: bool = False


def _stamp(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (path, -1, -1)
    return (path, st.st_mtime_ns, st.st_size)


def _parse_entry_points(text: str) -> list[EntryPointFact]:
    out: list[EntryPointFact] = []
    group = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            group = line.strip("[] ")
            continue
        if group in KIND_OF_GROUP and "=" in line:
            name, _, value = line.partition("=")
            out.append(EntryPointFact(group, name.strip(), value.strip()))
    return out


def _parse_metadata(text: str) -> tuple[str | None, str | None, list[str]]:
    """``(Name, Version, [Requires-Dist, ...])`` from METADATA's headers, read as the installer and
    ``importlib.metadata`` read them (:mod:`email`): field names are case-insensitive, the first
    ``Name`` and ``Version`` count, a line starting with a space or tab continues the field before
    it, lines end only at CR/LF, and headers end at the first empty line or the first line that
    is not a header. A missing or empty ``Name``/``Version`` is None."""
    fields: list[list[str]] = []
    for line in re.split(r"\r\n|\r|\n", text):
        if not line:
            break  # end of headers; the body is the long description
        if line[0] in " \t":
            if fields:
                fields[-1][1] = (fields[-1][1] + " " + line.strip(" \t")).strip(" \t")
            continue
        key, sep, value = line.partition(":")
        if not sep or any(not ("!" <= c <= "~") for c in key):
            break  # not a header: email's parser takes it, and all that follows, as the body
        fields.append([key.lower(), value.strip(" \t")])
    name = next((v for k, v in fields if k == "name"), None) or None
    version = next((v for k, v in fields if k == "version"), None) or None
    requires = [v for k, v in fields if k == "requires-dist" and v]
    return name, version, requires


def _find_spec(top: str, path: list[str] | None) -> Any:
    if path is None:
        import importlib.util

        return importlib.util.find_spec(top)
    from importlib.machinery import PathFinder

    return PathFinder.find_spec(top, path)


def _find_manifest(
    root: Path, eps: list[EntryPointFact], path: list[str] | None = None
) -> tuple[str | None, list[str]]:
    """The manifest's path (or None), and every path tried (stamped, so adding one is seen)."""
    tops: list[str] = []
    tried: list[str] = []
    for ep in eps:
        top = ep.module.split(".")[0]
        if top and top not in tops:
            tops.append(top)
    for top in tops:
        candidate = str(root / top / MANIFEST_NAME)
        if os.path.isfile(candidate):
            return candidate, [candidate]
        tried.append(candidate)
    for top in tops:  # editable installs: the package is found through a path hook or .pth
        try:
            spec = _find_spec(top, path)
        except (ImportError, ValueError):
            spec = None
        for loc in (spec.submodule_search_locations or []) if spec else []:
            candidate = os.path.join(loc, MANIFEST_NAME)
            if os.path.isfile(candidate):
                return candidate, [candidate]
            tried.append(candidate)
    return None, tried


#: The largest manifest read (bytes); a larger file is that plugin's broken verdict.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (JSON has no NaN or Infinity)")


def parse_manifest(raw: bytes, where: str) -> tuple[dict[str, Any] | None, list[str]]:
    """Parse and validate manifest bytes; every failure is a problem naming ``where``, never an
    exception: too large, not UTF-8, not JSON, nested too deeply, a number JSON cannot hold
    (NaN, Infinity, more digits than Python reads), or invalid against the manifest schema."""
    if len(raw) > MAX_MANIFEST_BYTES:
        return None, [f"{where}: the manifest is larger than {MAX_MANIFEST_BYTES} bytes; a "
                      "manifest describes components, it holds no data"]
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        return None, [f"{where}: cannot read the manifest: not UTF-8 ({exc.reason} at byte {exc.start})"]
    except json.JSONDecodeError as exc:
        return None, [f"{where}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"]
    except RecursionError:
        return None, [f"{where}: not a usable manifest: nested too deeply"]
    except ValueError as exc:  # NaN/Infinity (above), or an integer of too many digits
        text = str(exc)
        if "digits" in text or "integer string conversion" in text:
            text = f"an integer has more digits than allowed ({text})"
        return None, [f"{where}: not a usable manifest: {text}"]
    known = _known_verdict(raw)
    if known is not None:
        problems = [f"{where}: {p}" for p in known]
        return (data if isinstance(data, dict) else None), problems
    from torchrack.contracts._schemas import validate, validate_params_schema

    try:
        found = [str(p) for p in validate("manifest", data)]
        if not found:
            for name, comp in data.get("components", {}).items():
                for p in validate_params_schema(comp.get("params", {"type": "object"})):
                    found.append(f"params schema of {name!r} is invalid at {p}")
    except RecursionError:
        return None, [f"{where}: not a usable manifest: nested too deeply"]
    _remember_verdict(raw, found)
    return (data if isinstance(data, dict) else None), [f"{where}: {p}" for p in found]


# -- the content-addressed cache of manifest verdicts ----------------------------------------------
#
# Checking a manifest against the schema (and each params schema against the metaschema) is most
# of a cold scan's work, and its result depends on the manifest's bytes and the torchrack version
# alone. So it is remembered by content, in ``<cache dir>/manifests/<sha256>.json``, shared by every
# environment of the user: a new virtualenv with the same plugins validates nothing again. Each
# file is written whole to a temporary name and renamed (concurrent writers leave one complete
# file); an unwritable or corrupt cache is a miss, never an error. ``TORCHRACK_NO_CACHE`` turns it
# off with the discovery cache.

_VERDICT_FORMAT = 1


def _verdict_file(raw: bytes) -> Path:
    import hashlib

    digest = hashlib.sha256(b"torchrack-manifest\0" + _CACHE_SALT.encode() + b"\0" + raw).hexdigest()
    return cache_dir() / "manifests" / f"{digest}.json"


def _known_verdict(raw: bytes) -> list[str] | None:
    """The problems remembered for a manifest of exactly these bytes, or None (not known)."""
    if not cache_enabled():
        return None
    try:
        with open(_verdict_file(raw), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format") != _VERDICT_FORMAT:
        return None
    problems = data.get("problems")
    if not isinstance(problems, list) or not all(isinstance(p, str) for p in problems):
        return None
    return problems


def _remember_verdict(raw: bytes, problems: list[str]) -> None:
    if not cache_enabled():
        return
    import tempfile

    file = _verdict_file(raw)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".verdict-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"format": _VERDICT_FORMAT, "problems": problems}, fh)
            os.replace(tmp, file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:
        pass  # read-only home, full disk: validated again next time


def _read_manifest(path: str | None) -> tuple[dict[str, Any] | None, list[str]]:
    if path is None:
        return None, [f"no {MANIFEST_NAME} found in the plugin's top-level package"]
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        return None, [f"{path}: cannot read the manifest: {exc.strerror or exc}"]
    return parse_manifest(raw, path)


def _read_text(path: Path) -> str | None:
    """A metadata file's text (bytes that are not UTF-8 replaced), or None when it is missing,
    unreadable or not a regular file (a FIFO named METADATA must not block discovery)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(_MAX_METADATA_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


#: The most of a METADATA or entry_points.txt file read (the headers come first).
_MAX_METADATA_BYTES = 1024 * 1024


def _metadata_folders(path: list[str] | None) -> Iterator[tuple[str, str | None, Path]]:
    """``(normalized name, version from the folder name, folder)`` of every ``*.dist-info`` /
    ``*.egg-info`` folder on ``path`` (default ``sys.path``), in ``sys.path`` order, read with
    one ``scandir`` per entry (no per-distribution objects: the cold path of every CI job). An
    archive on the path (a zip, an egg) is read through :mod:`importlib.metadata`."""
    for entry in (sys.path if path is None else path):
        folder = entry or "."
        try:
            with os.scandir(folder) as it:
                names = [d.name for d in it if d.name.endswith((".dist-info", ".egg-info")) and d.is_dir()]
        except NotADirectoryError:
            yield from _archive(folder)
            continue
        except OSError:
            continue
        for name in names:
            m = _DIST_DIR.match(name)
            if m is None:
                continue
            yield m.group("name").lower().replace("_", "-").replace(".", "-"), m.group("version"), Path(folder) / name


def _archive(entry: str) -> Iterator[tuple[str, str | None, Path]]:
    from importlib import metadata

    for dist in metadata.distributions(path=[entry]):
        dist_path = getattr(dist, "_path", None)
        name = (dist.metadata["Name"] or "") if dist_path is None else dist_path.name.split("-")[0]
        if dist_path is not None:
            yield name.lower().replace("_", "-").replace(".", "-"), dist.version, Path(str(dist_path))


def _scan_uncached(
    path: list[str] | None = None, reuse: dict[str, DistFacts] | None = None
) -> ScanResult:
    """Scan every distribution; ``reuse`` maps a dist-info folder to facts still known to hold
    (every file they were read from unchanged), which are taken as they are instead of re-read
    and re-validated."""
    seen: set[str] = set()
    dists: list[DistFacts] = []
    torch_version = None
    for norm, folder_version, dist_path in _metadata_folders(path):
        if norm in seen:
            continue  # shadowed by an earlier sys.path entry, as importlib.metadata does
        seen.add(norm)
        if norm == "torch" and torch_version is None:
            torch_version = folder_version
            continue
        prior = reuse.get(str(dist_path)) if reuse else None
        if prior is not None:
            dists.append(prior)
            continue
        text = _read_text(dist_path / "entry_points.txt")
        if not text or "[torchrack." not in text:
            continue
        eps = _parse_entry_points(text)
        if not eps:
            continue
        name, version, requires = _parse_metadata(_read_text(dist_path / "METADATA")
                                                  or _read_text(dist_path / "PKG-INFO") or "")
        manifest_path, tried = _find_manifest(dist_path.parent, eps, path)
        manifest, problems = _read_manifest(manifest_path)
        if version is None:
            problems = [f"{dist_path}/METADATA has no Version header, which every distribution must "
                        "have (core metadata spec); reinstall it from a release that has one", *problems]
        stamps = [_stamp(str(dist_path / "METADATA")), _stamp(str(dist_path / "entry_points.txt"))]
        stamps += [_stamp(p) for p in tried]
        dists.append(
            DistFacts(
                name=name or norm,
                version=version or "0",
                location=str(dist_path),
                requires=requires,
                entry_points=eps,
                manifest_path=manifest_path,
                manifest=manifest,
                manifest_problems=problems,
                stamps=stamps,
            )
        )
    return ScanResult(dists, torch_version)


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


def _load_cache(
    file: Path, ident: str, path_stamps: list[tuple[str, int, int]]
) -> tuple[ScanResult | None, dict[str, DistFacts]]:
    """Read the cache file once. When nothing changed: ``(the cached scan, {})``. Otherwise
    ``(None, reusable)``: from a stale cache of the same interpreter, torchrack version and
    ``sys.path``, the facts of each distribution whose files (metadata, entry points, manifest and
    every place a manifest was looked for) are all unchanged, by folder, so that installing one
    plugin costs one manifest validation, not one per installed plugin."""
    try:
        with open(file, encoding="utf-8") as fh:
            data = json.load(fh)
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
    fields = {f: None for f in DistFacts.__dataclass_fields__}
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
        "dists": [asdict(d) for d in result.dists],
    }
    import tempfile

    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".discovery-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, separators=(",", ":"))
        os.replace(tmp, file)
    except OSError:
        pass  # read-only home, full disk: discovery still works, just uncached


def scan(
    use_cache: bool | None = None,
    *,
    path: list[str] | None = None,
    annotate: Callable[[ScanResult], None] | None = None,
) -> ScanResult:
    """Find every plugin distribution on ``sys.path`` (or ``path``) and read its static facts.

    With the cache on (the default; ``TORCHRACK_NO_CACHE=1`` turns it off), a previous scan is
    reused while every ``sys.path`` entry and every file it read keep their modification time
    and size. The cache is never required: when it cannot be read or written, discovery runs in
    full. ``annotate`` is called on a fresh scan before it is cached, so that what it adds to
    the facts (the vetting layer's settings-independent verdicts) is cached with them.
    """
    if use_cache is None:
        use_cache = cache_enabled()
    if path is not None:
        path = [os.fspath(p) for p in path]
    if not use_cache:
        return _scan_uncached(path)
    file, ident, path_stamps = _cache_key(sys.path if path is None else path)
    cached, reusable = _load_cache(file, ident, path_stamps)
    if cached is not None:
        return cached
    result = _scan_uncached(path, reusable)
    if annotate is not None:
        annotate(result)
    _write_cache(file, ident, path_stamps, result)
    return result
