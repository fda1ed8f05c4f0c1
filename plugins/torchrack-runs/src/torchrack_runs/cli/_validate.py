"""``torchrack validate CONFIG [--static] [--set K=V]``: check a config before any compute.

``--static``: the schema, each component's existence, version and params, importing neither torch
nor any plugin. Without it, the composed pipeline also runs once on the ``meta`` device and every
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
        print(f"{args.config}: valid (static): {r.roles()}")
        return 0
    r.check(device=args.device)
    where = {"meta": "on the meta device", "cpu": "on the cpu (4 samples)",
             "auto": "in a dry run (4 samples on the cpu for a small model, else the meta device)"}
    print(f"{args.config}: valid: {r.roles()}; tensor contracts hold {where[args.device]}")
    return 0
