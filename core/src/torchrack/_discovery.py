"""Discovery: find plugin distributions and read their static facts, importing no plugin.

For every installed distribution this reads ``entry_points.txt``; for those with a
``torchrack.*`` group it also reads ``METADATA`` (name, version, ``Requires-Dist``) and the
static manifest ``torchrack-manifest.json`` from the plugin's top-level package (located through
the distribution's folder or ``importlib.util.find_spec``, which also finds editable installs).
These facts, including the manifest's schema verdict, are cached on disk, keyed on ``sys.path``
entries and the modification times of every file read; see :func:`scan`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from torchrack._kinds import KIND_OF_GROUP
from torchrack._version import __version__

MANIFEST_NAME = "torchrack-manifest.json"
_CACHE_FORMAT = 1
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


def _find_manifest(dist: metadata.Distribution, eps: list[EntryPointFact]) -> str | None:
    tops: list[str] = []
    for ep in eps:
        top = ep.module.split(".")[0]
        if top and top not in tops:
            tops.append(top)
    for top in tops:
        candidate = Path(str(dist.locate_file(f"{top}/{MANIFEST_NAME}")))
        if candidate.is_file():
            return str(candidate)
    for top in tops:  # editable installs: the package is found through a path hook or .pth
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        for loc in (spec.submodule_search_locations or []) if spec else []:
            candidate = Path(loc) / MANIFEST_NAME
            if candidate.is_file():
                return str(candidate)
    return None


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
    from torchrack._schemas import validate, validate_params_schema

    problems = [f"{path}: {p}" for p in validate("manifest", data)]
    if not problems:
        for name, comp in data.get("components", {}).items():
            for p in validate_params_schema(comp.get("params", {"type": "object"})):
                problems.append(f"{path}: params schema of {name!r} is invalid at {p}")
    return (data if isinstance(data, dict) else None), problems


def _scan_uncached() -> ScanResult:
    seen: set[str] = set()
    dists: list[DistFacts] = []
    torch_version = None
    for dist in metadata.distributions():
        path = getattr(dist, "_path", None)
        m = _DIST_DIR.match(path.name) if path is not None else None
        norm = (m.group("name") if m else (dist.metadata["Name"] or "")).lower().replace("_", "-")
        if norm in seen:
            continue  # shadowed by an earlier sys.path entry, as importlib.metadata does
        seen.add(norm)
        if norm == "torch" and torch_version is None:
            torch_version = m.group("version") if m else dist.version
            continue
        text = dist.read_text("entry_points.txt")
        if not text or "[torchrack." not in text:
            continue
        eps = _parse_entry_points(text)
        if not eps:
            continue
        name, version, requires = _parse_metadata(dist.read_text("METADATA") or "")
        manifest_path = _find_manifest(dist, eps)
        manifest, problems = _read_manifest(manifest_path)
        stamps = []
        if path is not None:
            stamps = [_stamp(str(path / "METADATA")), _stamp(str(path / "entry_points.txt"))]
        if manifest_path:
            stamps.append(_stamp(manifest_path))
        dists.append(
            DistFacts(
                name=name or norm,
                version=version or "0",
                location=str(path) if path is not None else "",
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


def _cache_key() -> tuple[Path, list[tuple[str, int, int]]]:
    ident = "\0".join([sys.executable, __version__, *sys.path])
    digest = hashlib.sha256(ident.encode()).hexdigest()[:20]
    return cache_dir() / f"discovery-{digest}.json", [_stamp(p or ".") for p in sys.path]


def _load_cache(file: Path, path_stamps: list[tuple[str, int, int]]) -> ScanResult | None:
    try:
        with open(file, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("format") != _CACHE_FORMAT or data.get("version") != __version__:
            return None
        if [tuple(s) for s in data["path_stamps"]] != path_stamps:
            return None
        dists = [DistFacts.from_json(d) for d in data["dists"]]
        for d in dists:
            for stamp in d.stamps:
                if _stamp(stamp[0]) != stamp:
                    return None
        return ScanResult(dists, data["torch_version"], from_cache=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a missing, stale or corrupt cache is just a miss


def _write_cache(file: Path, path_stamps: list[tuple[str, int, int]], result: ScanResult) -> None:
    # A file changed within the last two seconds may change again within the same timestamp
    # tick, which a later stat could not tell apart: do not cache such a racy state.
    newest = max(
        [s[1] for s in path_stamps] + [s[1] for d in result.dists for s in d.stamps], default=0
    )
    if newest > time.time_ns() - 2_000_000_000:
        return
    payload = {
        "format": _CACHE_FORMAT,
        "version": __version__,
        "path_stamps": path_stamps,
        "torch_version": result.torch_version,
        "dists": [asdict(d) for d in result.dists],
    }
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".discovery-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, separators=(",", ":"))
        os.replace(tmp, file)
    except OSError:
        pass  # read-only home, full disk: discovery still works, just uncached


def scan(use_cache: bool | None = None) -> ScanResult:
    """Find every plugin distribution on ``sys.path`` and read its static facts.

    With the cache on (the default; ``TORCHRACK_NO_CACHE=1`` turns it off), a previous scan is
    reused while every ``sys.path`` entry and every file it read keep their modification time
    and size. The cache is never required: when it cannot be read or written, discovery runs in
    full.
    """
    if use_cache is None:
        use_cache = cache_enabled()
    if not use_cache:
        return _scan_uncached()
    file, path_stamps = _cache_key()
    cached = _load_cache(file, path_stamps)
    if cached is not None:
        return cached
    result = _scan_uncached()
    _write_cache(file, path_stamps, result)
    return result
