"""``torchrack check [--strict] [--json] [--static] [--dist NAME] [--junit FILE] [WHEEL...]``: the CI gate.

Exit 0 when every installed plugin is usable; 1 when any is incompatible or broken (with
``--strict``, also on any warning: deprecated components, manifest/entry-point mismatches);
2 on usage errors. Denied plugins are reported but are not failures: they were excluded on purpose.
Imports of usable plugins are checked in a child process unless ``--static``. Given wheel files,
it vets those instead, from their metadata and manifest alone, without installing them
(:mod:`torchrack.integrity._wheel`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any
from xml.etree import ElementTree as ET

from torchrack._version import API_VERSION, __version__
from torchrack.cli.output import print_json
from torchrack.plugins._registry import Registry
from torchrack.plugins._trust import canonical_dist
from torchrack.plugins._vetting import BROKEN, DENIED, INCOMPATIBLE, OK, PluginInfo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.add_argument("--static", action="store_true", help="skip the import check")
    parser.add_argument("--dist", action="append", help="check only this distribution (repeatable)")
    parser.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report to FILE")
    parser.add_argument("wheels", nargs="*", metavar="WHEEL",
                        help="vet these built wheels (.whl) instead of what is installed; nothing is installed")


def _write_junit(path: str, plugins: list[PluginInfo], strict: bool) -> None:
    suite = ET.Element("testsuite", name="torchrack check", tests=str(len(plugins)))
    failures = 0
    for p in plugins:
        case = ET.SubElement(suite, "testcase", classname="torchrack.check", name=f"{p.name} {p.version}")
        if p.verdict in (INCOMPATIBLE, BROKEN) or (strict and p.warnings):
            failures += 1
            msg = "; ".join(p.reasons or p.warnings)
            fail = ET.SubElement(case, "failure", message=f"{p.verdict}: {msg}"[:1000])
            fail.text = "\n".join(p.reasons + [f"warning: {w}" for w in p.warnings])
        elif p.verdict == DENIED:
            ET.SubElement(case, "skipped", message="; ".join(p.reasons))
        if p.warnings:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(f"warning: {w}" for w in p.warnings)
    suite.set("failures", str(failures))
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def run(args: argparse.Namespace) -> int:
    if args.wheels:
        from torchrack.integrity._wheel import installed_torch, vet_wheel

        plugins, torch_version = [vet_wheel(w) for w in args.wheels], installed_torch()
    else:
        reg = Registry.discover()
        plugins, torch_version = reg.plugins, reg.torch_version
    if args.dist:
        wanted = [next((p for p in plugins if p.canonical_name == canonical_dist(d)), None) for d in args.dist]
        missing = [d for d, p in zip(args.dist, wanted, strict=False) if p is None]
        if missing:
            print(
                f"torchrack check: error: no plugin distribution named {', '.join(missing)}",
                file=sys.stderr,
            )
            return 2
        plugins = [p for p in wanted if p is not None]
    if not args.static and not args.wheels:
        reg.probe(plugins)
    counts = {v: sum(p.verdict == v for p in plugins) for v in (OK, INCOMPATIBLE, BROKEN, DENIED)}
    n_warn = sum(len(p.warnings) for p in plugins if p.verdict == OK)
    failed = counts[INCOMPATIBLE] + counts[BROKEN] > 0 or (args.strict and n_warn > 0)
    if args.junit:
        _write_junit(args.junit, plugins, args.strict)
    if args.json:
        report: dict[str, Any] = {
            "torchrack": __version__,
            "api_version": API_VERSION,
            "torch": torch_version,
            "strict": args.strict,
            "passed": not failed,
            "counts": counts,
            "warnings": n_warn,
            "plugins": [p.to_json() for p in plugins],
        }
        print_json(report)
    else:
        for p in plugins:
            print(f"{p.verdict:<13} {p.name} {p.version} ({len(p.components)} components)")
            for r in p.reasons:
                print(f"    - {r}")
            if p.import_error:
                for link in p.import_error["chain"][1:]:
                    print(f"      caused by {link}")
            for w in p.warnings if p.verdict == OK else []:
                print(f"    warning: {w}")
        summary = ", ".join(f"{n} {v}" for v, n in counts.items())
        print(f"\ntorchrack check{' --strict' if args.strict else ''}: {summary}; {n_warn} warnings "
              f"-> {'FAILED' if failed else 'passed'}")
    return 1 if failed else 0
