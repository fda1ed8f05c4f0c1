"""``torchrack lock CONFIG -o LOCK``: write the resolved components with versions and hashes."""

from __future__ import annotations

import argparse

from torchrack_runs._lock import write_lock
from torchrack_runs.cli._common import PATH, add_config_arguments, runner


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("-o", "--output", required=True, type=PATH, metavar="LOCK", help="lock file to write")


def run(args: argparse.Namespace) -> int:
    lock = runner(args).lock()
    write_lock(lock, args.output)
    print(f"wrote {args.output}: {len(lock['components'])} components locked")
    return 0
