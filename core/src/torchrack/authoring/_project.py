"""A plugin's source project (``pyproject.toml`` + package): its manifest generated from the code,
and checked against it (``torchrack manifest generate|check``).

The components are the project's ``[project.entry-points."torchrack.*"]``; the manifest is
``torchrack-manifest.json`` in the top-level package (``src/<package>/`` or ``<package>/``). The
component factories are imported from the project's source folder (the project's code runs: this
is a tool for the plugin's own author and CI, not for vetting someone else's plugin).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchrack._errors import TorchrackError
from torchrack._kinds import KIND_OF_GROUP, NON_COMPONENT_KINDS
from torchrack.contracts._signature import SignatureError, drift, merge, params_schema_of
from torchrack.plugins._discovery import MANIFEST_NAME

_API = ">=1,<2"

#: Tensor specs a new manifest entry starts from, per kind (the contract's names; edit to fit).
_SPECS: dict[str, dict[str, Any]] = {
    "dataset": {"outputs": {"inputs": {"shape": ["N", "C", "H", "W"], "dtype": "float32"},
                            "targets": {"shape": ["N"], "dtype": "int64"}}},
    "augmentation": {"inputs": {"inputs": {"shape": ["N", "C", "H", "W"], "dtype": "floating"},
                                "targets": {"shape": ["N", "..."], "dtype": "any"}},
                     "outputs": {"inputs": {"shape": ["N", "C", "H", "W"], "dtype": "floating"},
                                 "targets": {"shape": ["N", "..."], "dtype": "any"}}},
    "backbone": {"inputs": {"inputs": {"shape": ["N", "C", "H", "W"], "dtype": "floating"}},
                 "outputs": {"features": {"shape": ["N", "F"], "dtype": "floating"}}},
    "head": {"inputs": {"features": {"shape": ["N", "F"], "dtype": "floating"}},
             "outputs": {"logits": {"shape": ["N", "K"], "dtype": "floating"}}},
    "loss": {"inputs": {"logits": {"shape": ["N", "K"], "dtype": "floating"},
                        "targets": {"shape": ["N", "..."], "dtype": ["int64", "floating"]}},
             "outputs": {"loss": {"shape": [], "dtype": "floating"}}},
    "metric": {"inputs": {"logits": {"shape": ["N", "K"], "dtype": "floating"},
                          "targets": {"shape": ["N", "..."], "dtype": ["int64", "floating"]}}},
    "accelerator": {},
    "optimizer": {},
    "scheduler": {},
    "adapter": {"inputs": {"features": {"shape": ["N", "Fc", "..."], "dtype": "floating"}},
                "outputs": {"features": {"shape": ["N", "Fc"], "dtype": "floating"}}},
    "calibrator": {"inputs": {"logits": {"shape": ["N", "K"], "dtype": "floating"},
                              "targets": {"shape": ["N"], "dtype": "int64"}},
                   "outputs": {"logits": {"shape": ["N", "K"], "dtype": "floating"}}},
}


class ProjectError(TorchrackError):
    """A project folder that cannot be read: no pyproject.toml, no entry points, no package."""


@dataclass
class Project:
    """A plugin project: its folder, components (name -> (kind, ``module:attr``)) and manifest."""

    root: Path
    components: dict[str, tuple[str, str]]
    source: Path
    manifest_path: Path
    manifest: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProjectError(f"{path}: cannot read: {exc}") from exc


def load_project(root: str | os.PathLike[str] = ".") -> Project:
    """Read the project at ``root``: entry points from pyproject.toml, the package, the manifest."""
    base = Path(root).resolve()
    pyproject = base / "pyproject.toml"
    if not pyproject.is_file():
        raise ProjectError(f"{base}: no pyproject.toml; run this in a plugin's project folder or pass it")
    groups = _read_toml(pyproject).get("project", {}).get("entry-points", {})
    components: dict[str, tuple[str, str]] = {}
    for group, entries in groups.items():
        if group in KIND_OF_GROUP and KIND_OF_GROUP[group] not in NON_COMPONENT_KINDS and isinstance(entries, dict):
            for name, value in entries.items():
                components[name] = (KIND_OF_GROUP[group], str(value))
    if not components:
        raise ProjectError(
            f"{pyproject}: no [project.entry-points.\"torchrack.<kind>\"] table; register each "
            "component under its kind's group (docs/plugin-contract.md)"
        )
    top = next(iter(components.values()))[1].partition(":")[0].split(".")[0]
    for source in (base / "src", base):
        if (source / top).is_dir():
            break
    else:
        raise ProjectError(f"{base}: package {top!r} not found in src/{top}/ or {top}/")
    manifest_path = source / top / MANIFEST_NAME
    manifest = None
    problems = []
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"{manifest_path}: cannot read: {exc}")
    return Project(base, components, source, manifest_path, manifest, problems)


def _import(project: Project, value: str) -> Any:
    from torchrack.plugins._loader import EntryPointImportError, load_entry_point

    if str(project.source) not in sys.path:
        sys.path.insert(0, str(project.source))
    try:
        return load_entry_point(value, who=f"{project.root.name}")
    except EntryPointImportError as exc:
        raise ProjectError(str(exc)) from exc


def code_schemas(project: Project) -> dict[str, dict[str, Any]]:
    """Each component's params schema as its code declares or implies it."""
    out = {}
    for name, (kind, value) in project.components.items():
        obj = _import(project, value)
        try:
            out[name] = params_schema_of(obj, who=f"{kind} {name!r} ({value})")
        except SignatureError as exc:
            raise ProjectError(str(exc)) from exc
    return out


def generate(project: Project) -> tuple[dict[str, Any], list[str]]:
    """The manifest updated from the code, and what changed (one line each)."""
    schemas = code_schemas(project)
    old = project.manifest or {}
    manifest: dict[str, Any] = {
        "manifest_version": old.get("manifest_version", 1),
        "api": old.get("api", _API),
        **{k: v for k, v in old.items() if k not in ("manifest_version", "api", "components")},
    }
    comps: dict[str, Any] = {}
    changes: list[str] = []
    old_comps: dict[str, Any] = old.get("components", {}) or {}
    for name, (kind, value) in project.components.items():
        prev = old_comps.get(name)
        obj = _import(project, value)
        declared = isinstance(getattr(obj, "params_schema", None), dict)
        if prev is None:
            doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
            entry: dict[str, Any] = {
                "kind": kind, "version": "0.1.0",
                "summary": doc[0] if doc else f"The {name} {kind}.",
                "params": schemas[name], **_SPECS[kind], "devices": ["cpu", "meta"],
            }
            changes.append(f"components.{name}: added ({kind}); check its summary and tensor specs")
        else:
            entry = dict(prev)
            if entry.get("kind") != kind:
                changes.append(f"components.{name}.kind: {entry.get('kind')!r} -> {kind!r}")
                entry["kind"] = kind
            before = entry.get("params") or {}
            entry["params"] = schemas[name] if declared else merge(before, schemas[name])
            for line in drift(before, schemas[name]):
                changes.append(f"components.{name}.params: {line}: updated")
        comps[name] = entry
    for name in old_comps:
        if name not in comps:
            changes.append(f"components.{name}: removed (no entry point registers it)")
    manifest["components"] = comps
    return manifest, changes


def check(project: Project) -> list[str]:
    """Every difference between the manifest and the code (empty when they agree)."""
    if project.problems:
        return list(project.problems)
    if project.manifest is None:
        return [f"{project.manifest_path}: missing; run `torchrack manifest generate`"]
    from torchrack.contracts._schemas import validate

    problems = [f"{project.manifest_path}: {p}" for p in validate("manifest", project.manifest)]
    declared: dict[str, Any] = project.manifest.get("components", {}) or {}
    schemas = code_schemas(project)
    for name, (kind, value) in project.components.items():
        entry = declared.get(name)
        if not isinstance(entry, dict):
            problems.append(f"components.{name}: the entry point {value} is not described in the manifest")
            continue
        if entry.get("kind") != kind:
            problems.append(f"components.{name}.kind: the manifest says {entry.get('kind')!r}, the entry point's group says {kind!r}")
        obj = _import(project, value)
        if isinstance(getattr(obj, "params_schema", None), dict):
            if entry.get("params") != schemas[name]:
                problems.append(f"components.{name}.params: differs from the params_schema the component declares")
            continue
        problems += [f"components.{name}.params: {line}" for line in drift(entry.get("params") or {}, schemas[name])]
    for name in declared:
        if name not in project.components:
            problems.append(f"components.{name}: in the manifest but no entry point registers it")
    return problems


def write_manifest(project: Project, manifest: dict[str, Any]) -> None:
    project.manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
