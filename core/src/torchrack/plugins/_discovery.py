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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from torchrack._kinds import KIND_OF_GROUP
from torchrack.plugins._cache import VerdictBook, _cache_key, _load_cache, _write_cache, manifest_digest
from torchrack.plugins._cache import cache_dir as cache_dir
from torchrack.plugins._cache import cache_enabled as cache_enabled
from torchrack.plugins._facts import DistFacts as DistFacts
from torchrack.plugins._facts import EntryPointFact as EntryPointFact
from torchrack.plugins._facts import ScanResult as ScanResult
from torchrack.plugins._facts import _read_file, _stamp

# importlib.metadata, importlib.util, tempfile and jsonschema are imported only by a full scan:
# a warm `torchrack list` reads the cache and never needs them.

MANIFEST_NAME = "torchrack-manifest.json"
_LINE_END = re.compile(r"\r\n|\r|\n")
#: An empty line: two line ends in a row, a CRLF never split into a CR and an LF (atomic groups).
_BLANK_LINE = re.compile(r"(?>\r\n|\r|\n)(?>\r\n|\r|\n)")
_DIST_DIR = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+?)\.(dist|egg)-info$")


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
    blank = _BLANK_LINE.search(text)  # the headers end there at the latest: the body is not split
    head = text if blank is None else text[:blank.start()]
    for line in head.split("\n") if "\r" not in head else _LINE_END.split(head):
        if not line:
            break  # end of headers; the body is the long description
        if line[0] in " \t":
            if fields:
                fields[-1][1] = (fields[-1][1] + " " + line.strip(" \t")).strip(" \t")
            continue
        key, sep, value = line.partition(":")
        # A field name is printable ASCII without space ("!" to "~"), as email's parser reads it.
        if not sep or not (key.isascii() and key.isprintable()) or " " in key:
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
    root: str, eps: list[EntryPointFact], path: list[str] | None = None,
) -> tuple[str | None, list[str], tuple[bytes, tuple[str, int, int]] | None]:
    """The manifest's path (or None), every path tried (stamped, so adding one is seen), and,
    for a manifest beside the metadata (read while looking for it), its bytes and stamp."""
    tops: list[str] = []
    tried: list[str] = []
    for ep in eps:
        top = ep.module.split(".")[0]
        if top and top not in tops:
            tops.append(top)
    for top in tops:
        candidate = os.path.join(root, top, MANIFEST_NAME)
        raw, stamp = _read_file(candidate, MAX_MANIFEST_BYTES + 1)  # one open, not a stat and an open
        if raw is not None:
            return candidate, [candidate], (raw, stamp)
        if os.path.isfile(candidate):  # there but unreadable: reading it again words the reason
            return candidate, [candidate], None
        tried.append(candidate)
    for top in tops:  # editable installs: the package is found through a path hook or .pth
        try:
            spec = _find_spec(top, path)
        except (ImportError, ValueError):
            spec = None
        for loc in (spec.submodule_search_locations or []) if spec else []:
            candidate = os.path.join(loc, MANIFEST_NAME)
            if os.path.isfile(candidate):
                return candidate, [candidate], None
            tried.append(candidate)
    return None, tried, None


#: The largest manifest read (bytes); a larger file is that plugin's broken verdict.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (JSON has no NaN or Infinity)")


def parse_manifest(raw: bytes, where: str, book: VerdictBook | None = None) -> tuple[dict[str, Any] | None, list[str]]:
    """Parse and validate manifest bytes; every failure is a problem naming ``where``, never an
    exception: too large, not UTF-8, not JSON, nested too deeply, a number JSON cannot hold
    (NaN, Infinity, more digits than Python reads), or invalid against the manifest schema.

    The schema verdict is looked up in, and a new one added to, ``book`` (the caller saves it:
    a scan once at its end); without one, a book of its own is opened and saved."""
    if book is None:
        book = VerdictBook()
        try:
            return parse_manifest(raw, where, book)
        finally:
            book.save()
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
            limit = int(getattr(sys, "get_int_max_str_digits", lambda: 4300)())
            text = (f"it holds an integer of more digits than can be read (over {limit}), which no "
                    "manifest field needs")
        return None, [f"{where}: not a usable manifest: {text}"]
    digest = manifest_digest(raw) if book.file is not None else ""
    known = book.get(digest) if digest else None
    if known is not None:
        problems = [f"{where}: {p}" for p in known]
        return (data if isinstance(data, dict) else None), problems
    from torchrack.contracts._schemas import validate, validate_params_schema

    try:
        found = [str(p) for p in validate("manifest", data)]
        if not found:
            for name, comp in data.get("components", {}).items():
                # parsed_json: the manifest is json.loads' output, NaN and Infinity refused.
                for p in validate_params_schema(comp.get("params", {"type": "object"}), parsed_json=True):
                    found.append(f"params schema of {name!r} is invalid at {p}")
    except RecursionError:
        return None, [f"{where}: not a usable manifest: nested too deeply"]
    if digest:
        book.put(digest, found)
    return (data if isinstance(data, dict) else None), [f"{where}: {p}" for p in found]


def _read_manifest(path: str | None) -> tuple[dict[str, Any] | None, list[str]]:
    """The manifest at ``path`` parsed and validated, and its problems."""
    manifest, problems, _ = _read_manifest_stamped(path)
    return manifest, problems


def _read_manifest_stamped(
    path: str | None, book: VerdictBook | None = None,
    read: tuple[bytes, tuple[str, int, int]] | None = None,
) -> tuple[dict[str, Any] | None, list[str], tuple[str, int, int] | None]:
    """:func:`_read_manifest`, and the file's stamp as it was read (None: not read); ``read``:
    the bytes and stamp :func:`_find_manifest` already read."""
    if path is None:
        return None, [f"no {MANIFEST_NAME} found in the plugin's top-level package"], None
    raw, stamp = read if read is not None else _read_file(path, MAX_MANIFEST_BYTES + 1)
    if raw is None and stamp[1] != -1:
        return None, [f"{path}: cannot read the manifest: not a regular file"], stamp
    if raw is None:  # it could not be opened: open it once more for the reason
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_MANIFEST_BYTES + 1)
        except OSError as exc:
            return None, [f"{path}: cannot read the manifest: {exc.strerror or exc}"], None
    return (*parse_manifest(raw, path, book), stamp)


def _read_text(path: str) -> tuple[str | None, tuple[str, int, int]]:
    """A metadata file's text (bytes that are not UTF-8 replaced) or None, and its stamp."""
    raw, stamp = _read_file(path, _MAX_METADATA_BYTES)
    return (None if raw is None else raw.decode("utf-8", "replace")), stamp


#: The most of a METADATA or entry_points.txt file read (the headers come first).
_MAX_METADATA_BYTES = 1024 * 1024


def _metadata_folders(path: list[str] | None) -> Iterator[tuple[str, str | None, str]]:
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
        base = str(Path(folder))  # once per entry: the folder's paths are built as strings
        for name in names:
            m = _DIST_DIR.match(name)
            if m is None:
                continue
            yield (m.group("name").lower().replace("_", "-").replace(".", "-"), m.group("version"),
                   name if base == "." else os.path.join(base, name))


def _archive(entry: str) -> Iterator[tuple[str, str | None, str]]:
    from importlib import metadata

    for dist in metadata.distributions(path=[entry]):
        dist_path = getattr(dist, "_path", None)
        name = (dist.metadata["Name"] or "") if dist_path is None else dist_path.name.split("-")[0]
        if dist_path is not None:
            yield name.lower().replace("_", "-").replace(".", "-"), dist.version, str(Path(str(dist_path)))


def _scan_uncached(
    path: list[str] | None = None, reuse: dict[str, DistFacts] | None = None
) -> ScanResult:
    """Scan every distribution; ``reuse`` maps a dist-info folder to facts still known to hold
    (every file they were read from unchanged), which are taken as they are instead of re-read
    and re-validated."""
    book = VerdictBook()
    try:
        return _scan_folders(path, reuse, book)
    finally:
        book.save()


def _scan_folders(path: list[str] | None, reuse: dict[str, DistFacts] | None, book: VerdictBook) -> ScanResult:
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
        prior = reuse.get(dist_path) if reuse else None
        if prior is not None:
            dists.append(prior)
            continue
        eps_file, meta_file = os.path.join(dist_path, "entry_points.txt"), os.path.join(dist_path, "METADATA")
        text, eps_stamp = _read_text(eps_file)
        if not text or "[torchrack." not in text:
            continue
        eps = _parse_entry_points(text)
        if not eps:
            continue
        meta_text, meta_stamp = _read_text(meta_file)
        if not meta_text:
            meta_text = _read_text(os.path.join(dist_path, "PKG-INFO"))[0]
        name, version, requires = _parse_metadata(meta_text or "")
        manifest_path, tried, read = _find_manifest(os.path.dirname(dist_path), eps, path)
        manifest, problems, manifest_stamp = _read_manifest_stamped(manifest_path, book, read)
        if version is None:
            problems = [f"{dist_path}/METADATA has no Version header, which every distribution must "
                        "have (core metadata spec); reinstall it from a release that has one", *problems]
        # Each file read is stamped as it was read; the places looked at in vain, by a stat.
        stamps = [meta_stamp, eps_stamp]
        stamps += [manifest_stamp if p == manifest_path and manifest_stamp else _stamp(p) for p in tried]
        dists.append(
            DistFacts(
                name=name or norm,
                version=version or "0",
                location=dist_path,
                requires=requires,
                entry_points=eps,
                manifest_path=manifest_path,
                manifest=manifest,
                manifest_problems=problems,
                stamps=stamps,
            )
        )
    return ScanResult(dists, torch_version)


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
