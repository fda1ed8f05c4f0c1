"""``torchrack verify [--lock LOCK] [--dist NAME] [--json]``: detect tampering with plugins.

Hashes every installed file of each plugin distribution against its RECORD (and, with
``--lock``, each locked component's files against the lock's hashes). Exit 1 on any modified,
missing, unexpected, unhashed, weakly hashed, outside, unreadable file, unreadable RECORD or lock
mismatch (:mod:`torchrack.integrity._record`); editable installs are reported as unverifiable.
Imports no plugin. ``--json`` is strict JSON with one list per kind of finding.
"""

from __future__ import annotations

import argparse
import os

from torchrack.cli.output import nonempty, print_json
from torchrack.integrity._hashing import component_sha256
from torchrack.integrity._record import MISMATCH, UNVERIFIABLE, VerifyResult, verify_dist, verify_lock
from torchrack.plugins._discovery import scan
from torchrack.plugins._registry import Registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lock", metavar="LOCK", help="also compare against a lock file's hashes")
    parser.add_argument("--dist", action="append", type=nonempty("a distribution name"), help="only this distribution (repeatable)")
    parser.add_argument("--json", action="store_true", help="machine-readable report")


_EXPLAINED = (
    ("modified", "modified", ""),
    ("missing", "missing", ""),
    ("unexpected", "unexpected", ""),
    ("unhashed", "unhashed", " (RECORD lists it without a hash, so nothing proves it unchanged)"),
    ("weak", "weak hash", " (RECORD's hash is weaker than sha256, such as md5 or sha1: refused)"),
    ("outside", "outside", " (resolves outside {root}: not read, not verified)"),
    ("unreadable", "unreadable", " (not a regular file, or it cannot be opened: not read)"),
    ("not_checked", "not checked", " (installed into the environment's scripts or data folder, "
                                   "outside the distribution's: not read)"),
    ("problems", "problem", ""),
    ("lock_mismatches", "lock", ""),
)


def _print(r: VerifyResult, root: str) -> None:
    print(f"{r.status:<13} {r.dist} {r.version}"
          + (f" ({r.checked} files)" if r.checked else "") + (f": {r.note}" if r.note else ""))
    for attr, label, why in _EXPLAINED:
        for item in getattr(r, attr):
            print(f"    {label}: {item}{why.format(root=root or 'its folder')}")


def run(args: argparse.Namespace) -> int:
    from torchrack.integrity._lock import read_lock
    from torchrack.plugins._trust import canonical_dist

    lock = read_lock(args.lock) if args.lock else None
    registry = Registry.discover()
    facts = {canonical_dist(d.name): d for d in scan().dists}
    wanted = {canonical_dist(d) for d in args.dist or []}
    unknown = wanted - set(facts)
    if unknown:
        print(f"torchrack verify: error: no plugin distribution named {', '.join(sorted(unknown))}")
        return 2
    results: list[VerifyResult] = []
    roots: list[str] = []
    for key, d in sorted(facts.items()):
        if wanted and key not in wanted:
            continue
        packages = dict.fromkeys(ep.module.split(".")[0] for ep in d.entry_points)
        res = verify_dist(d.name, d.version, d.location, packages=packages)
        if lock is not None:
            plugin = registry.plugin(d.name)
            current = {f"{c.kind}:{c.name}": component_sha256(c, plugin)
                       for c in (plugin.components if plugin else [])}
            verify_lock(res, lock, current)
        results.append(res)
        roots.append(os.path.dirname(d.location))
    bad = [r for r in results if r.status == MISMATCH]
    if args.json:
        print_json({"passed": not bad, "distributions": [r.to_json() for r in results]})
    else:
        for r, root in zip(results, roots, strict=True):
            _print(r, root)
        n_unver = sum(r.status == UNVERIFIABLE for r in results)
        print(f"\ntorchrack verify: {len(results) - len(bad) - n_unver} verified, {len(bad)} mismatched, "
              f"{n_unver} unverifiable -> {'FAILED' if bad else 'passed'}")
    return 1 if bad else 0
