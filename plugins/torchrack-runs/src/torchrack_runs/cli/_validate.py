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


def run(args: argparse.Namespace) -> int:
    r = runner(args)
    if args.static:
        print(f"{args.config}: valid (static): {r.roles()}")
        return 0
    r.check()
    print(f"{args.config}: valid: {r.roles()}; tensor contracts hold on the meta device")
    return 0
