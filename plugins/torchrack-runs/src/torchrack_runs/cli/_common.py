"""Arguments shared by the config commands (validate, run, lock, eval)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from torchrack.cli.output import nonempty

if TYPE_CHECKING:
    from torchrack_runs._runner import Runner

#: An empty path (an unset shell variable) is a usage error naming the flag, not the folder '.'.
PATH = nonempty("a path")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=PATH, help="experiment config (.toml or .json)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one value, e.g. --set run.epochs=3 or --set 'augment[0].params.p=0.5' "
             "(repeatable; values in TOML syntax)",
    )


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=PATH, help="run store (default: $TORCHRACK_STORE or ./.torchrack/runs.sqlite)")


def runner(args: argparse.Namespace) -> Runner:
    """The :class:`Runner` of ``args.config`` with ``--set`` overrides (and ``--store``)."""
    from torchrack_runs._runner import Runner  # here: `runs list` and `sweep list` need none of it

    return Runner(args.config, args.overrides, store=getattr(args, "store", None))
