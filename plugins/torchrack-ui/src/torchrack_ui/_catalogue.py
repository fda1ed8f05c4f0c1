"""The plugin catalogue: every installed distribution and component, read without importing any.

:func:`catalogue` asks :meth:`torchrack.plugins.Registry.discover` (entry points, distribution
metadata and static manifests, through the discovery cache) and never loads an entry point, so
the dashboard shows a broken or incompatible plugin with its reasons instead of failing on it, and
imports neither torch nor any plugin module. :func:`params_rows` turns a params JSON Schema into
the rows of a table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from torchrack import API_VERSION, TorchrackError
from torchrack import __version__ as TORCHRACK_VERSION
from torchrack.plugins import OK, PluginInfo, Registry

__all__ = ["catalogue", "discover", "params_rows", "spec_rows"]

#: JSON Schema keywords shown in a params table's "constraints" column.
CONSTRAINTS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
               "maxLength", "pattern", "minItems", "maxItems", "multipleOf", "const", "format")


def discover() -> tuple[Registry | None, str | None]:
    """The registry of installed plugins, or None and why it cannot be read (bad trust settings)."""
    try:
        return Registry.discover(), None
    except TorchrackError as exc:
        return None, str(exc)


def _type_of(schema: Mapping[str, Any]) -> str:
    if "enum" in schema and isinstance(schema["enum"], list):
        return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        text = " | ".join(map(str, kind))
    elif isinstance(kind, str):
        text = kind
    else:
        variants = schema.get("anyOf") or schema.get("oneOf")
        if isinstance(variants, list):
            return " | ".join(_type_of(v) for v in variants if isinstance(v, Mapping)) or "any"
        return "any"
    items = schema.get("items")
    if "array" in text and isinstance(items, Mapping):
        text += f" of {_type_of(items)}"
    return text


def params_rows(schema: Any, prefix: str = "") -> list[dict[str, Any]]:
    """One row per parameter of a params schema (nested objects as ``outer.inner``): name, type,
    default (JSON text, or None when the schema gives none), constraints, required, sensitive,
    description."""
    if not isinstance(schema, Mapping):
        return []
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return []
    listed = schema.get("required")
    required: list[Any] = listed if isinstance(listed, list) else []
    rows: list[dict[str, Any]] = []
    for name, sub in props.items():
        if not isinstance(sub, Mapping):
            sub = {}
        full = f"{prefix}{name}"
        rows.append({
            "name": full,
            "type": _type_of(sub),
            "default": json.dumps(sub["default"]) if "default" in sub else None,
            "constraints": ", ".join(f"{k} {json.dumps(sub[k])}" for k in CONSTRAINTS if k in sub),
            "required": name in required,
            "sensitive": bool(sub.get("x-sensitive")),
            "description": str(sub.get("description", "")),
        })
        if isinstance(sub.get("properties"), Mapping):
            rows += params_rows(sub, prefix=f"{full}.")
    return rows


def spec_rows(specs: Any) -> list[dict[str, Any]]:
    """Tensor specs (``inputs`` or ``outputs``) as rows: name, shape, dtype, description."""
    if not isinstance(specs, Mapping):
        return []
    rows = []
    for name, spec in specs.items():
        spec = spec if isinstance(spec, Mapping) else {}
        shape = spec.get("shape")
        dtype = spec.get("dtype", "any")
        rows.append({
            "name": str(name),
            "shape": "[" + ", ".join(map(str, shape)) + "]" if isinstance(shape, list) else "any",
            "dtype": ", ".join(map(str, dtype)) if isinstance(dtype, list) else str(dtype),
            "description": str(spec.get("description", "")),
        })
    return rows


def _component(plugin: PluginInfo, comp: Any) -> dict[str, Any]:
    spec = comp.spec if isinstance(comp.spec, Mapping) else {}
    return {
        "kind": comp.kind, "name": comp.name, "qualname": comp.qualname, "version": comp.version,
        "summary": comp.summary, "entry_point": comp.entry_point,
        "devices": comp.devices, "deprecated": comp.deprecated, "denied": comp.denied,
        "tags": [str(t) for t in spec.get("tags", [])] if isinstance(spec.get("tags"), list) else [],
        "params": params_rows(comp.params_schema),
        "params_schema": comp.params_schema,
        "inputs": spec_rows(comp.inputs), "outputs": spec_rows(comp.outputs),
    }


def _described(plugin: PluginInfo, section: str, name: str) -> str:
    entries = (plugin.manifest or {}).get(section) if isinstance(plugin.manifest, Mapping) else None
    entry = entries.get(name) if isinstance(entries, Mapping) else None
    return str(entry.get("summary", "")) if isinstance(entry, Mapping) else ""


def catalogue(registry: Registry | None, problem: str | None = None,
              kind: str | None = None) -> dict[str, Any]:
    """Every installed plugin distribution with its verdict, reasons, warnings, components (each
    with summary, params table, tensor specs, devices, deprecation), hooks and commands.

    ``kind`` keeps only components of that kind (and the distributions that have one).
    """
    plugins: list[dict[str, Any]] = []
    for plugin in registry.plugins if registry is not None else []:
        comps = [_component(plugin, c) for c in plugin.components if kind in (None, c.kind)]
        registered = {(c.kind, c.name) for c in plugin.components}
        # Entry points that did not become components (the plugin is broken, say): listed by name.
        unregistered = [
            {"kind": ep.kind, "name": ep.name, "entry_point": ep.value}
            for ep in plugin.entry_points
            if ep.kind not in ("hooks", "commands") and (ep.kind, ep.name) not in registered
            and kind in (None, ep.kind)
        ]
        if kind is not None and not comps and not unregistered:
            continue
        plugins.append({
            "name": plugin.name, "version": plugin.version, "verdict": plugin.verdict,
            "usable": plugin.verdict == OK, "reasons": list(plugin.reasons),
            "warnings": list(plugin.warnings), "location": plugin.location,
            "requires": list(plugin.requires),
            "components": comps, "unregistered": unregistered,
            "hooks": [{"name": ep.name, "entry_point": ep.value,
                       "summary": _described(plugin, "hooks", ep.name)} for ep in plugin.hooks],
            "commands": [{"name": ep.name, "entry_point": ep.value,
                          "summary": _described(plugin, "commands", ep.name)} for ep in plugin.commands],
        })
    kinds = sorted({c.kind for p in (registry.plugins if registry else []) for c in p.components})
    return {
        "torchrack": TORCHRACK_VERSION, "api_version": API_VERSION,
        "torch": registry.torch_version if registry is not None else None,
        "problem": problem, "kinds": kinds, "kind": kind,
        "components": sum(len(p["components"]) for p in plugins),
        "plugins": plugins,
    }
