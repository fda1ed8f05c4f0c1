"""Vetting a built wheel without installing it: ``torchrack check dist/acme_losses-1.0-py3-none-any.whl``.

The wheel is read as a zip archive: ``*.dist-info/METADATA`` (name, version, ``Requires-Dist``),
``*.dist-info/entry_points.txt`` and the manifest ``<top-level package>/torchrack-manifest.json``.
Those facts get the same verdict an installed plugin would (:func:`torchrack.plugins._vetting.vet`),
against the installed core and torch (whose version is read from its metadata). Nothing from the
wheel is installed, imported or executed.

The wheel is hostile input: only a regular file is opened (never a FIFO or device); only stored or
deflated members are read, at most :data:`MAX_METADATA_BYTES` of METADATA and entry_points.txt and
:data:`MAX_MANIFEST_BYTES` of the manifest, whatever their headers claim; a corrupt, encrypted,
duplicated or oversized member is an :class:`InvalidWheelError` naming the file and member. A
wheel with no ``torchrack.*`` entry points (pytest-cov, black) is ``not-a-plugin``, not broken.
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from collections import Counter
from typing import Any, BinaryIO

from torchrack._errors import TorchrackError
from torchrack.plugins._discovery import (
    MANIFEST_NAME,
    DistFacts,
    _parse_entry_points,
    _parse_metadata,
    parse_manifest,
)
from torchrack.plugins._trust import Settings, load_settings
from torchrack.plugins._vetting import NOT_PLUGIN, Environment, PluginInfo, vet


class InvalidWheelError(TorchrackError, ValueError):
    """A file that is not a readable wheel (missing, not a zip, no ``.dist-info``, a member that is
    corrupt, encrypted, compressed with an unsupported method, or larger than its cap)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


#: The most bytes read of a wheel's manifest, and of its METADATA and entry_points.txt: a larger
#: member (or one whose data runs past its header's size) makes the wheel invalid, never a
#: MemoryError.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_METADATA_BYTES = 1024 * 1024
#: Compression methods read; a wheel's members are deflated or stored (bzip2 and lzma have no
#: bounded decompression in :mod:`zipfile`, so a small member could expand without limit).
_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_METHOD_NAMES = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma", 9: "deflate64", 93: "zstandard",
                 98: "ppmd", 99: "AES encryption"}
_REBUILD = "rebuild it (pip wheel --no-deps -w dist .) or download it again"
#: What a damaged member or archive raises inside zipfile and its decompressors.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
               RuntimeError, NotImplementedError, struct.error, KeyError, IndexError, OverflowError)


def _invalid(where: str, why: str) -> InvalidWheelError:
    return InvalidWheelError(f"{where}: not a valid wheel: {why}; {_REBUILD}", where)


def _read_member(zf: zipfile.ZipFile, where: str, info: zipfile.ZipInfo, cap: int) -> bytes:
    """The bytes of one member, at most ``cap``, or :class:`InvalidWheelError` saying why not."""
    member = info.filename
    if info.flag_bits & 0x1:
        raise _invalid(where, f"{member} is encrypted (a wheel's members never are)")
    if info.compress_type not in _METHODS:
        method = _METHOD_NAMES.get(info.compress_type, "unknown")
        raise _invalid(where, f"{member} is compressed with method {info.compress_type} ({method}); "
                              "only stored and deflate members are read")
    if info.file_size > cap:
        raise _invalid(where, f"{member} is {info.file_size} bytes uncompressed, more than the "
                              f"{cap} bytes such a file may have")
    try:
        with zf.open(info) as fh:
            data = fh.read(cap + 1)
    except _ZIP_ERRORS as exc:
        raise _invalid(where, f"{member} cannot be decompressed ({type(exc).__name__}: {exc})") from None
    if len(data) > cap:
        raise _invalid(where, f"{member} holds more than the {cap} bytes such a file may have")
    return data


def _text(zf: zipfile.ZipFile, where: str, info: zipfile.ZipInfo) -> str:
    raw = _read_member(zf, where, info, MAX_METADATA_BYTES)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(where, f"{info.filename} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                              f"offset {exc.start})") from None


def installed_torch() -> str | None:
    """The installed torch version, read from its metadata (torch is not imported)."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def _manifest(zf: zipfile.ZipFile, wheel: str, info: zipfile.ZipInfo) -> tuple[dict[str, Any] | None, list[str]]:
    """The manifest and its problems (which make the wheel broken); InvalidWheelError when the
    member itself cannot be read."""
    raw = _read_member(zf, wheel, info, MAX_MANIFEST_BYTES)
    fix = "fix it and rebuild the wheel (`torchrack manifest check` shows what the schema expects)"
    # The same parsing and checks as an installed plugin's manifest (discovery's), so a wheel and
    # its installation get the same verdict; each problem also says how to fix the wheel.
    data, problems = parse_manifest(raw, f"{wheel}!{info.filename}")
    return data, [f"{p}; {fix}" for p in problems]


def _open(where: str) -> tuple[BinaryIO, zipfile.ZipFile]:
    """The wheel's file (a regular file, opened without blocking) and the archive in it; the
    caller closes both (a ZipFile does not close a file object it was given)."""
    try:
        st = os.stat(where)
    except FileNotFoundError:
        raise InvalidWheelError(f"{where}: no such file; build the wheel first (pip wheel --no-deps -w dist .)",
                                where) from None
    except OSError as exc:
        raise InvalidWheelError(f"{where}: cannot read the wheel: {exc.strerror or exc}", where) from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a FIFO, device or socket)"
        raise InvalidWheelError(f"{where}: is {kind}, not a wheel file; pass the path of a .whl", where)
    try:
        fd = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise InvalidWheelError(f"{where}: cannot read the wheel: {exc.strerror or exc}", where) from None
    fh = os.fdopen(fd, "rb")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _invalid(where, "it is not a regular file")
        return fh, zipfile.ZipFile(fh)
    except InvalidWheelError:
        fh.close()
        raise
    except _ZIP_ERRORS as exc:
        fh.close()
        raise InvalidWheelError(f"{where}: not a wheel (a zip archive): {exc}; {_REBUILD}", where) from None


def read_wheel(path: str | os.PathLike[str]) -> DistFacts:
    """The static facts of the wheel at ``path``, as discovery reads them from an installation.

    Raises :class:`InvalidWheelError` (naming the file and member) when they cannot be read; a
    manifest that is not valid, and a METADATA without ``Version``, are ``manifest_problems``.
    """
    where = os.fspath(path)
    fh, archive = _open(where)
    with fh, archive as zf:
        infos_all = zf.infolist()
        counts = Counter(i.filename for i in infos_all)
        members = {i.filename: i for i in infos_all}
        infos = sorted({n.split("/", 1)[0] for n in counts if n.split("/", 1)[0].endswith(".dist-info")})
        if len(infos) != 1:
            raise InvalidWheelError(
                f"{where}: expected one top-level *.dist-info folder, found {len(infos)} "
                f"({', '.join(infos) or 'none'}); {_REBUILD}",
                where,
            )
        info = infos[0]

        def member(name: str) -> zipfile.ZipInfo | None:
            if counts.get(name, 0) > 1:
                raise _invalid(where, f"{name} appears {counts[name]} times in the archive, so which "
                                      "one an installer keeps is not defined")
            return members.get(name)

        meta = member(f"{info}/METADATA")
        if meta is None:
            raise InvalidWheelError(f"{where}: {info}/METADATA is missing; {_REBUILD}", where)
        name, version, requires = _parse_metadata(_text(zf, where, meta))
        eps_info = member(f"{info}/entry_points.txt")
        eps_text = _text(zf, where, eps_info) if eps_info is not None else ""
        eps = _parse_entry_points(eps_text)
        manifest: dict[str, Any] | None = None
        manifest_path: str | None = None
        problems: list[str] = []
        tops = list(dict.fromkeys(ep.module.split(".")[0] for ep in eps))
        for top in tops:
            found = member(f"{top}/{MANIFEST_NAME}")
            if found is not None:
                manifest_path = f"{where}!{found.filename}"
                manifest, problems = _manifest(zf, where, found)
                break
        if not eps:
            problems = [_not_a_plugin(info, eps_info is not None, eps_text)]
        elif manifest_path is None:
            problems = [f"{where}: no {MANIFEST_NAME} in the wheel's top-level package "
                        f"({', '.join(f'{t}/' for t in tops)}); add one (torchrack manifest generate) "
                        "and make sure the build includes it"]
        if not version:
            problems.insert(0, f"{where}!{info}/METADATA has no Version header, which every distribution "
                               "must have (core metadata spec); rebuild the wheel with a backend that "
                               "writes it from the project's version")
    return DistFacts(
        name=name or info.split("-")[0],
        version=version or "0",
        location=where,
        requires=requires,
        entry_points=eps,
        manifest_path=manifest_path,
        manifest=manifest,
        manifest_problems=problems,
    )


def _not_a_plugin(info: str, has_file: bool, eps_text: str) -> str:
    unknown = sorted({line.strip()[1:-1].strip() for line in eps_text.splitlines()
                      if line.strip().startswith("[torchrack.") and line.strip().endswith("]")})
    if not has_file:
        found = f"it has no {info}/entry_points.txt"
    elif unknown:
        found = f"{info}/entry_points.txt has only groups torchrack does not know ({', '.join(unknown)})"
    else:
        found = f"{info}/entry_points.txt has no [torchrack.<kind>] group"
    return (f"declares no torchrack.* entry points ({found}): it is not a torchrack plugin, so there is "
            "nothing to vet; `torchrack check` fails on it only with --strict")


def vet_wheel(path: str | os.PathLike[str], settings: Settings | None = None, torch: str | None = None) -> PluginInfo:
    """The verdict the wheel at ``path`` would get once installed here (``torch``: its version,
    default the installed one). A wheel without ``torchrack.*`` entry points is
    ``not-a-plugin`` (:data:`~torchrack.plugins.NOT_PLUGIN`). Raises :class:`InvalidWheelError`
    when the wheel cannot be read."""
    facts = read_wheel(path)
    env = Environment(torch=torch if torch is not None else installed_torch())
    info = vet(facts, env, settings if settings is not None else load_settings())
    if not facts.entry_points:
        info.verdict = NOT_PLUGIN
        info.reasons = list(facts.manifest_problems)
        info.warnings = []
    return info
