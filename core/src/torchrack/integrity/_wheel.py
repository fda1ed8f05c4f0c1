"""Vetting a built wheel without installing it: ``torchrack check dist/acme_losses-1.0-py3-none-any.whl``.

The wheel is read as a zip archive: ``*.dist-info/METADATA`` (name, version, ``Requires-Dist``),
``*.dist-info/entry_points.txt`` and the manifest ``<top-level package>/torchrack-manifest.json``.
Those facts get the same verdict an installed plugin would (:func:`torchrack.plugins._vetting.vet`),
against the installed core and torch (whose version is read from its metadata). Nothing from the
wheel is installed, imported or executed.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from torchrack._errors import TorchrackError
from torchrack.plugins._discovery import MANIFEST_NAME, DistFacts, _parse_entry_points, _parse_metadata
from torchrack.plugins._trust import Settings, load_settings
from torchrack.plugins._vetting import BROKEN, Environment, PluginInfo, vet


class InvalidWheelError(TorchrackError, ValueError):
    """A file that is not a readable wheel (missing, not a zip, no ``.dist-info``)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def installed_torch() -> str | None:
    """The installed torch version, read from its metadata (torch is not imported)."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def _manifest(zf: zipfile.ZipFile, where: str, member: str) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        data = json.loads(zf.read(member).decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, [f"{where}: cannot read the manifest: {exc}"]
    except json.JSONDecodeError as exc:
        return None, [f"{where}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"]
    from torchrack.contracts._schemas import validate, validate_params_schema

    problems = [f"{where}: {p}" for p in validate("manifest", data)]
    if not problems:
        for name, comp in data.get("components", {}).items():
            for p in validate_params_schema(comp.get("params", {"type": "object"})):
                problems.append(f"{where}: params schema of {name!r} is invalid at {p}")
    return (data if isinstance(data, dict) else None), problems


def read_wheel(path: str | os.PathLike[str]) -> DistFacts:
    """The static facts of the wheel at ``path``, as discovery reads them from an installation."""
    where = os.fspath(path)
    if not Path(where).is_file():
        raise InvalidWheelError(f"{where}: no such file; build the wheel first (pip wheel --no-deps -w dist .)", where)
    try:
        zf = zipfile.ZipFile(where)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidWheelError(f"{where}: not a wheel (a zip archive): {exc}", where) from exc
    with zf:
        names = zf.namelist()
        infos = sorted({n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")})
        if len(infos) != 1:
            raise InvalidWheelError(
                f"{where}: expected one top-level *.dist-info folder, found {len(infos)} ({', '.join(infos) or 'none'})",
                where,
            )
        info = infos[0]
        if f"{info}/METADATA" not in names:
            raise InvalidWheelError(f"{where}: {info}/METADATA is missing", where)
        name, version, requires = _parse_metadata(zf.read(f"{info}/METADATA").decode("utf-8", "replace"))
        eps_text = zf.read(f"{info}/entry_points.txt").decode("utf-8", "replace") if f"{info}/entry_points.txt" in names else ""
        eps = _parse_entry_points(eps_text)
        manifest: dict[str, Any] | None = None
        manifest_path: str | None = None
        problems: list[str] = []
        tops = list(dict.fromkeys(ep.module.split(".")[0] for ep in eps))
        for top in tops:
            member = f"{top}/{MANIFEST_NAME}"
            if member in names:
                manifest_path = f"{where}!{member}"
                manifest, problems = _manifest(zf, manifest_path, member)
                break
        if manifest_path is None:
            problems = [f"no {MANIFEST_NAME} in the wheel's top-level package "
                        f"({', '.join(f'{t}/' for t in tops) or 'no torchrack entry points'})"]
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


def vet_wheel(path: str | os.PathLike[str], settings: Settings | None = None, torch: str | None = None) -> PluginInfo:
    """The verdict the wheel at ``path`` would get once installed here (``torch``: its version,
    default the installed one). A wheel without ``torchrack.*`` entry points is ``broken``."""
    facts = read_wheel(path)
    env = Environment(torch=torch if torch is not None else installed_torch())
    info = vet(facts, env, settings if settings is not None else load_settings())
    if not facts.entry_points:
        info.verdict = BROKEN
        info.reasons.insert(0, "declares no torchrack.* entry points: it is not a torchrack plugin")
    return info
