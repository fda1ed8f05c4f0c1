"""``torchrack list [--kind K] [--json]``: what is installed, and what cannot be used and why.

Reads entry points, metadata and manifests only (through the discovery cache when valid); imports
neither torch nor any plugin module.
"""

from __future__ import annotations

import argparse

from torchrack._version import API_VERSION, __version__
from torchrack.cli.output import print_json, table
from torchrack.plugins._registry import Registry
from torchrack.plugins._vetting import OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", help="only this kind (dataset, loss, ... or the plural)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    reg = Registry.discover()
    comps = reg.components(args.kind)
    problems = [p for p in reg.plugins if p.verdict != OK]
    if args.json:
        print_json(
            {
                "torchrack": __version__,
                "api_version": API_VERSION,
                "torch": reg.torch_version,
                "components": [c.to_json() for c in comps],
                "plugins": [p.to_json() for p in reg.plugins],
            }
        )
        return 0
    if comps:
        rows = [
            (c.kind, c.name, c.version, f"{c.dist} {c.dist_version}",
             ("[denied] " if c.denied else "") + ("[deprecated] " if c.deprecated else "") + c.summary)
            for c in comps
        ]
        print(table(("KIND", "NAME", "VERSION", "DISTRIBUTION", "SUMMARY"), rows))
    else:
        print("no components installed" + (f" of kind {args.kind}" if args.kind else ""))
    usable = sum(p.verdict == OK for p in reg.plugins)
    print(f"\n{len(comps)} components from {usable} usable plugin distributions "
          f"(torchrack {__version__}, hook API {API_VERSION}, torch {reg.torch_version or 'not installed'})")
    if problems:
        print("\nplugins that cannot be used:")
        for p in problems:
            print(f"  {p.name} {p.version}: {p.verdict}")
            for reason in p.reasons:
                print(f"    - {reason}")
    warned = [p for p in reg.plugins if p.warnings and p.verdict == OK]
    if warned:
        print("\nwarnings (torchrack check --strict fails on these):")
        for p in warned:
            for w in p.warnings:
                print(f"  {p.name}: {w}")
    return 0
