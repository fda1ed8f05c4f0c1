"""``torchrack list [--kind K] [--json]``: what is installed, and what cannot be used and why.

Reads entry points, metadata and manifests only (through the discovery cache when valid); imports
neither torch nor any plugin module.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from torchrack._version import API_VERSION, __version__

if TYPE_CHECKING:
    from torchrack.plugins._registry import Registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", help="only this kind (dataset, loss, ... or the plural)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    # What a listing prints depends on the scanned files, the trust settings and the view only:
    # when none changed since the last one, print that (see torchrack.plugins._cache, the
    # listing cache), without vetting or rendering anything again.
    from torchrack.cli.output import stdout_is_tty
    from torchrack.plugins._cache import known_listing, listing_key, remember_listing
    from torchrack.plugins._trust import load_settings

    if args.kind is not None:
        # Checked before the listing cache: a misspelt (or empty) kind is an error, never the
        # replay of a listing remembered for it.
        from torchrack._errors import TorchrackError
        from torchrack._kinds import normalize_kind, unknown_kind

        if normalize_kind(args.kind) is None:
            raise TorchrackError(unknown_kind(args.kind))
    settings = load_settings()
    tty = bool(args.json) and stdout_is_tty()
    where = listing_key(repr((("json-tty" if tty else "json") if args.json else "table", args.kind)),
                        repr(settings))
    cached = known_listing(where)
    if cached is not None:
        sys.stdout.write(cached)
        return 0
    import gc

    from torchrack.plugins._registry import Registry

    # The cyclic collector stays off until the text is written (discovery turns it off for its
    # own part): rendering right after it triggered a full pass over every manifest's objects,
    # a third of the rendering of a cold 1,000-plugin listing. The command ends right after.
    gc.disable()
    try:
        reg = Registry.discover(settings)
        text = _render(reg, args, tty)
    finally:
        gc.enable()
    sys.stdout.write(text)
    if reg.scan_result is not None:
        remember_listing(where, reg.scan_result, text)
    return 0


def _render(reg: Registry, args: argparse.Namespace, tty: bool) -> str:
    from torchrack.cli.output import dumps, table
    from torchrack.plugins._vetting import OK

    comps = reg.components(args.kind)
    problems = [p for p in reg.plugins if p.verdict != OK]
    if args.json:
        return dumps(
            {
                "torchrack": __version__,
                "api_version": API_VERSION,
                "torch": reg.torch_version,
                "components": [c.to_json() for c in comps],
                "plugins": [p.to_json() for p in reg.plugins],
            },
            indent=2 if tty else None,
        ) + "\n"
    out: list[str] = []
    if comps:
        rows = [
            (c.kind, c.name, c.version, f"{c.dist} {c.dist_version}",
             ("[denied] " if c.denied else "") + ("[deprecated] " if c.deprecated else "") + c.summary)
            for c in comps
        ]
        out.append(table(("KIND", "NAME", "VERSION", "DISTRIBUTION", "SUMMARY"), rows))
    else:
        out.append("no components installed" + (f" of kind {args.kind}" if args.kind else ""))
    usable = sum(p.verdict == OK for p in reg.plugins)
    out.append(f"\n{len(comps)} components from {usable} usable plugin distributions "
               f"(torchrack {__version__}, hook API {API_VERSION}, torch {reg.torch_version or 'not installed'})")
    if problems:
        out.append("\nplugins that cannot be used:")
        for p in problems:
            out.append(f"  {p.name} {p.version}: {p.verdict}")
            out.extend(f"    - {reason}" for reason in p.reasons)
    warned = [p for p in reg.plugins if p.warnings and p.verdict == OK]
    if warned:
        out.append("\nwarnings (torchrack check --strict fails on these):")
        out.extend(f"  {p.name}: {w}" for p in warned for w in p.warnings)
    return "\n".join(out) + "\n"
