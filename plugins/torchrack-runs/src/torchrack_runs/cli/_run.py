"""``torchrack run CONFIG [--set K=V] [--resume RUN] [--locked LOCK] [--store PATH] [--nproc N]``.

Validates the config and its tensor contracts first (as ``torchrack validate``), then trains and
evaluates, recording the run in the store. ``--resume RUN`` continues an interrupted run from its
last checkpoint; ``--locked LOCK`` refuses to start when the config or components differ from the
lock file.

``--nproc N`` launches N worker processes through torch.distributed.run (see
:mod:`torchrack_runs._launch`); each worker is this same command without ``--nproc``. In a worker
(or any process that torchrun started) only the main process, rank 0, opens the run store for
writing and runs the trackers; the other ranks train and evaluate their shards.
"""

from __future__ import annotations

import argparse
import os
import sys

from torchrack import TorchrackError

from torchrack_runs._launch import LAUNCH_FILE_ENV, TORCHRUN_OPTIONS, add_launch_arguments, launch
from torchrack_runs.cli._common import add_config_arguments, add_store_argument, runner


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    add_store_argument(parser)
    parser.add_argument("--resume", metavar="RUN", help="continue run RUN (an id or 'latest')")
    parser.add_argument("--locked", metavar="LOCK", help="refuse to start unless the lock matches")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar (default: on when stderr is a terminal)")
    add_launch_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.nproc is not None:
        return launch(args, runner(args))
    for dest, flag in TORCHRUN_OPTIONS:
        if getattr(args, dest, None) is not None:
            raise TorchrackError(f"{flag} is a launcher option: use it with --nproc N")
    if args.timeout is not None:
        raise TorchrackError("--timeout is a launcher option: use it with --nproc N")
    launch_file = os.environ.get(LAUNCH_FILE_ENV)
    # A worker of `--nproc` (launch_file set): the launcher checked all of this already.
    result, store = runner(args).run(resume=args.resume, locked=args.locked, progress=args.progress,
                                     checked=bool(launch_file), launch_file=launch_file)
    if store is None:
        return 0
    shown = ", ".join(f"{k} {v:.4f}" for k, v in result.final_metrics.items() if isinstance(v, float))
    print(f"run {result.id} ({result.name}) completed: {shown}")
    print(f"recorded in {store.path}; look at it with `torchrack runs show {result.id}`",
          file=sys.stderr)
    return 0
