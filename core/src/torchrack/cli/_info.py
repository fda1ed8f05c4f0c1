"""``torchrack info NAME [--kind K] [--json] [--no-import]``: one component or plugin in full.

NAME is a component (``name`` or ``dist:name``) or a distribution. Shows the manifest entry, params
schema, tensor specs, distribution, versions and verdict. The import check runs in a child process
(so this process imports neither torch nor the plugin); a module that raises on import shows its
chained error.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from torchrack._errors import TorchrackError
from torchrack._kinds import normalize_kind, unknown_kind
from torchrack.cli.output import print_json
from torchrack.plugins._registry import Registry
from torchrack.plugins._trust import canonical_dist
from torchrack.plugins._vetting import OK, PluginInfo

#: the kinds the ``compile`` conformance check applies to
_COMPILED_KINDS = ("augmentation", "backbone", "adapter", "head", "loss", "metric")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="component name, dist:name, or a distribution name")
    parser.add_argument("--kind", help="only components of this kind")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--no-import", action="store_true", help="skip the import check (static facts only)"
    )


def _matches(reg: Registry, text: str, kind: str | None) -> list[tuple[PluginInfo, Any]]:
    dist, sep, name = text.rpartition(":")
    out = []
    for plugin in reg.plugins:
        if dist and plugin.canonical_name != canonical_dist(dist):
            continue
        for ep in plugin.entry_points:
            if ep.name == name and (kind is None or ep.kind == kind):
                out.append((plugin, ep))
    return out


def _component_json(plugin: PluginInfo, ep: Any) -> dict[str, Any]:
    spec = (plugin.manifest or {}).get("components", {}).get(ep.name) if ep.kind != "hooks" else None
    registered = next((c for c in plugin.components if c.name == ep.name and c.kind == ep.kind), None)
    return {
        "kind": ep.kind,
        "name": ep.name,
        "qualname": f"{plugin.canonical_name}:{ep.name}",
        "entry_point": ep.value,
        "registered": registered is not None,
        "denied": registered.denied if registered else None,
        "manifest": spec,
        "compile": _compile_result(plugin, ep),
        "plugin": plugin.to_json(),
    }


def _compile_result(plugin: PluginInfo, ep: Any) -> dict[str, Any] | None:
    """What the last ``compile`` conformance check found for this component of this version of
    its distribution (recorded in the cache folder by the check; no torch here), or None."""
    from torchrack.testing._compile_record import lookup

    return lookup(plugin.canonical_name, plugin.version or "", ep.kind, ep.name)


def run(args: argparse.Namespace) -> int:
    kind = normalize_kind(args.kind) if args.kind else None
    if args.kind and kind is None:
        raise TorchrackError(unknown_kind(args.kind))
    reg = Registry.discover()
    found = _matches(reg, args.name, kind)
    plugin_only = reg.plugin(args.name) if not found else None
    if not found and plugin_only is None:
        names = sorted({ep.name for p in reg.plugins for ep in p.entry_points})
        import difflib

        close = difflib.get_close_matches(args.name.rpartition(":")[2], names, n=3)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise TorchrackError(f"no component or plugin distribution named {args.name!r}{hint}")

    plugins = [plugin_only] if plugin_only else list({id(p): p for p, _ in found}.values())
    if not args.no_import:
        reg.probe(plugins, None if plugin_only else [e for _, e in found])

    if plugin_only:
        data: dict[str, Any] = plugin_only.to_json()
        if args.json:
            print_json(data)
        else:
            _print_plugin(plugin_only)
        return 0 if plugin_only.verdict in (OK, "denied") else 1
    entries = [_component_json(p, ep) for p, ep in found]
    if args.json:
        print_json(entries[0] if len(entries) == 1 else entries)
    else:
        for i, entry in enumerate(entries):
            if i:
                print()
            _print_component(entry)
    return 0 if all(p.verdict in (OK, "denied") for p in plugins) else 1


def _print_plugin(p: PluginInfo) -> None:
    print(f"{p.name} {p.version}: {p.verdict}")
    print(f"  location: {p.location}")
    print(f"  manifest: {p.manifest_path or '(none)'}")
    for r in p.reasons:
        print(f"  - {r}")
    for w in p.warnings:
        print(f"  warning: {w}")
    if p.import_error:
        print("  import error chain:")
        for link in p.import_error["chain"]:
            print(f"    {link}")
    for ep in p.entry_points:
        print(f"  {ep.kind:<13} {ep.name} = {ep.value}")


def _print_component(entry: dict[str, Any]) -> None:
    plugin = entry["plugin"]
    spec = entry["manifest"] or {}
    print(f"{entry['kind']} {entry['qualname']}  (entry point {entry['entry_point']})")
    print(f"  distribution: {plugin['name']} {plugin['version']}  verdict: {plugin['verdict']}")
    if spec:
        print(f"  version: {spec.get('version')}   summary: {spec.get('summary')}")
        print(f"  devices: {', '.join(spec.get('devices', ['cpu', 'meta']))}")
        if spec.get("deprecated"):
            print(f"  deprecated: {json.dumps(spec['deprecated'])}")
        for label in ("inputs", "outputs"):
            for name, ts in spec.get(label, {}).items():
                print(f"  {label[:-1]} {name}: {ts.get('shape')} dtype={ts.get('dtype', 'any')}")
        print("  params schema:")
        for line in json.dumps(spec.get("params", {}), indent=2).splitlines():
            print(f"    {line}")
    if entry["kind"] in _COMPILED_KINDS:
        found = entry.get("compile")
        if found is None:
            print("  compile: not checked (run the conformance suite with --torchrack-compile)")
        else:
            torch = f", torch {found['torch']}" if found.get("torch") else ""
            print(f"  compile: {found['status']} (torch.compile(fullgraph=True){torch})")
            for m in found.get("messages", []):
                print(f"    {m}")
    if entry["denied"]:
        print(f"  denied: {entry['denied']}")
    for r in plugin["reasons"]:
        print(f"  - {r}")
    for w in plugin["warnings"]:
        print(f"  warning: {w}")
    if plugin["import_error"]:
        print("  import error chain (most recent first):")
        for link in plugin["import_error"]["chain"]:
            print(f"    {link}")
