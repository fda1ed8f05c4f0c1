"""``torchrack validate CONFIG [--static] [--set K=V]``: check a config before any compute.

``--static``: the schema, each component's existence, version and params, and every tensor dimension
the declared specs and params decide (:mod:`torchrack_runs._static_shapes`), importing neither
torch nor any plugin; it lists what it leaves to the dry run. Without it, the composed pipeline also runs once on the ``meta`` device and every
component's inputs and outputs are checked against its declared tensor specs.
"""

from __future__ import annotations

import argparse

from torchrack_runs.cli._common import add_config_arguments, runner


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--static", action="store_true",
                        help="schema, names, versions and params only: no torch, no plugin import")
    parser.add_argument("--device", choices=("auto", "meta", "cpu"), default="auto",
                        help="where the dry run runs: meta (no memory, nothing computed), cpu (4 "
                             "samples through the real model), auto (cpu for a model of at most "
                             "5M parameters, else meta; the default)")


def run(args: argparse.Namespace) -> int:
    r = runner(args)
    if args.static:
        from torchrack_runs._pipeline import ContractError
        from torchrack_runs._static_shapes import static_shapes

        report = static_shapes(r.resolved)
        if report.problems:
            raise ContractError(f"{args.config} (static)", report.problems)
        print(f"{args.config}: valid (static): {r.roles()}; shapes: {report.decided} dims "
              "decided from the specs and params")
        for item in report.left:
            print(f"  left to the dry run: {item}")
        return 0
    r.check(device=args.device)
    where = {"meta": "on the meta device", "cpu": "on the cpu (4 samples)",
             "auto": "in a dry run (4 samples on the cpu for a small model, else the meta device)"}
    print(f"{args.config}: valid: {r.roles()}; tensor contracts hold {where[args.device]}")
    for slot in r.resolved.slots:
        for key, value in (slot.ref.get("params") or {}).items():
            if value == "auto" and not isinstance(value, bool) and key in slot.params:
                print(f"  bound: {slot.key}.params.{key} = {slot.params[key]} (\"auto\")")
    return 0
