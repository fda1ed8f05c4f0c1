"""``torchrack run CONFIG [--set K=V] [--resume RUN] [--locked LOCK] [--store PATH]``.

Validates the config and its tensor contracts first (as ``torchrack validate``), then trains and
evaluates, recording the run in the store. ``--resume RUN`` continues an interrupted run from its
last checkpoint; ``--locked LOCK`` refuses to start when components differ from the lock file.
"""

from __future__ import annotations

import argparse
import sys

from torchrack._errors import TorchrackError
from torchrack.cli._common import (
    add_config_arguments,
    add_store_argument,
    open_store,
    plugin_manager,
    resolve,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    add_store_argument(parser)
    parser.add_argument("--resume", metavar="RUN", help="continue run RUN (an id or 'latest')")
    parser.add_argument("--locked", metavar="LOCK", help="refuse to start unless the lock matches")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar (default: on when stderr is a terminal)")


def run(args: argparse.Namespace) -> int:
    registry, resolved = resolve(args)
    if args.locked:
        from torchrack._lock import LockMismatchError, compare_lock, make_lock, read_lock
        from torchrack._trainer import component_records

        current = make_lock(resolved.sha256, component_records(resolved, registry), registry.torch_version)
        diffs = compare_lock(read_lock(args.locked), current)
        if diffs:
            raise LockMismatchError(args.locked, diffs)

    from torchrack._pipeline import ContractError
    from torchrack._trainer import fit
    from torchrack.cli._validate import contract_problems

    problems = contract_problems(resolved, registry)
    if problems:
        raise ContractError(args.config, problems)

    store = open_store(args.store)
    resume = None
    if args.resume:
        resume = store.get(args.resume)
        if resume["config_sha256"] != resolved.sha256:
            raise TorchrackError(
                f"run {resume['run_id']} was made from a different config "
                f"(sha256 {resume['config_sha256'][:12]}..., this one {resolved.sha256[:12]}...); "
                "resume it with the same config and overrides"
            )
        if resume["status"] == "completed":
            raise TorchrackError(f"run {resume['run_id']} is already completed; nothing to resume")
    pm = plugin_manager(resolved, registry, store)
    result = fit(resolved, registry, pm, store=store, resume=resume, progress=args.progress)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in result.final_metrics.items() if isinstance(v, float))
    print(f"run {result.id} ({result.name}) completed: {shown}")
    print(f"recorded in {store.path}; look at it with `torchrack runs show {result.id}`",
          file=sys.stderr)
    return 0
