"""Discovery: find plugin distributions and read their static facts, importing no plugin.

For every installed distribution this reads ``entry_points.txt``; for those with a
``torchrack.*`` group it also reads ``METADATA`` (name, version, ``Requires-Dist``) and the
static manifest ``torchrack-manifest.json`` from the plugin's top-level package (located through
the distribution's folder or ``importlib.util.find_spec``, which also finds editable installs).
These facts, including the manifest's schema verdict, are cached on disk, keyed on ``sys.path``
entries and the modification times of every file read; see :func:`scan`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchrack._kinds import KIND_OF_GROUP
from torchrack._version import __version__

if TYPE_CHECKING:
    from importlib import metadata

# importlib.metadata, importlib.util, tempfile and jsonschema are imported only by a full scan:
# a warm `torchrack list` reads the cache and never needs them.

MANIFEST_NAME = "torchrack-manifest.json"
_CACHE_FORMAT = 3
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
    name = version = None
    requires: list[str] = []
    for line in text.splitlines():
        if not line:
            break  # end of headers; the body is the long description
        key, sep, value = line.partition(":")
        if not sep or line[0] in " \t":
            continue
        value = value.strip()
        if key == "Name":
            name = value
        elif key == "Version":
            version = value
        elif key == "Requires-Dist":
            requires.append(value)
    return name, version, requires


def _find_spec(top: str, path: list[str] | None) -> Any:
    if path is None:
        import importlib.util

        return importlib.util.find_spec(top)
    from importlib.machinery import PathFinder

    return PathFinder.find_spec(top, path)


def _find_manifest(
    dist: metadata.Distribution, eps: list[EntryPointFact], path: list[str] | None = None
) -> tuple[str | None, list[str]]:
    """The manifest's path (or None), and every path tried (stamped, so adding one is seen)."""
    tops: list[str] = []
    tried: list[str] = []
    for ep in eps:
        top = ep.module.split(".")[0]
        if top and top not in tops:
            tops.append(top)
    for top in tops:
        candidate = str(dist.locate_file(f"{top}/{MANIFEST_NAME}"))
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


def _read_manifest(path: str | None) -> tuple[dict[str, Any] | None, list[str]]:
    if path is None:
        return None, [f"no {MANIFEST_NAME} found in the plugin's top-level package"]
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{path}: cannot read the manifest: {exc}"]
    except json.JSONDecodeError as exc:
        return None, [f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"]
    from torchrack.contracts._schemas import validate, validate_params_schema

    problems = [f"{path}: {p}" for p in validate("manifest", data)]
    if not problems:
        for name, comp in data.get("components", {}).items():
            for p in validate_params_schema(comp.get("params", {"type": "object"})):
                problems.append(f"{path}: params schema of {name!r} is invalid at {p}")
    return (data if isinstance(data, dict) else None), problems


def _scan_uncached(
    path: list[str] | None = None, reuse: dict[str, DistFacts] | None = None
) -> ScanResult:
    """Scan every distribution; ``reuse`` maps a dist-info folder to facts still known to hold
    (every file they were read from unchanged), which are taken as they are instead of re-read
    and re-validated."""
    from importlib import metadata

    seen: set[str] = set()
    dists: list[DistFacts] = []
    torch_version = None
    found = metadata.distributions() if path is None else metadata.distributions(path=path)
    for dist in found:
        dist_path = getattr(dist, "_path", None)
        m = _DIST_DIR.match(dist_path.name) if dist_path is not None else None
        norm = (m.group("name") if m else (dist.metadata["Name"] or "")).lower().replace("_", "-")
        if norm in seen:
            continue  # shadowed by an earlier sys.path entry, as importlib.metadata does
        seen.add(norm)
        if norm == "torch" and torch_version is None:
            torch_version = m.group("version") if m else dist.version
            continue
        prior = reuse.get(str(dist_path)) if reuse and dist_path is not None else None
        if prior is not None:
            dists.append(prior)
            continue
        text = dist.read_text("entry_points.txt")
        if not text or "[torchrack." not in text:
            continue
        eps = _parse_entry_points(text)
        if not eps:
            continue
        name, version, requires = _parse_metadata(dist.read_text("METADATA") or "")
        manifest_path, tried = _find_manifest(dist, eps, path)
        manifest, problems = _read_manifest(manifest_path)
        stamps = []
        if dist_path is not None:
            stamps = [
                _stamp(str(dist_path / "METADATA")),
                _stamp(str(dist_path / "entry_points.txt")),
            ]
        stamps += [_stamp(p) for p in tried]
        dists.append(
            DistFacts(
                name=name or norm,
                version=version or "0",
                location=str(dist_path) if dist_path is not None else "",
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
    ident = "\0".join([sys.executable, __version__, *path])
    # A short checksum names the file; the full ident is stored in it and compared on load, so
    # a checksum collision is only a miss.
    digest = f"{zlib.crc32(ident.encode()):08x}{len(ident):04x}"
    return cache_dir() / f"discovery-{digest}.json", ident, [_path_stamp(p or ".") for p in path]


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
    return (entry, zlib.crc32("\0".join(metas).encode()), len(metas))


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
        if data.get("format") != _CACHE_FORMAT or data.get("ident") != ident:
            return None, {}
        dists = [DistFacts.from_json(d) for d in data["dists"]]
        unchanged = [all(_stamp(s[0]) == s for s in d.stamps) for d in dists]
        if all(unchanged) and [tuple(s) for s in data["path_stamps"]] == path_stamps:
            return ScanResult(dists, data["torch_version"], from_cache=True), {}
        return None, {d.location: d for d, ok in zip(dists, unchanged, strict=True)
                      if ok and d.location and d.stamps}
    except (OSError, ValueError, KeyError, TypeError):
        return None, {}  # a missing, stale or corrupt cache is just a miss


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
