"""``torchrack run CONFIG [--set K=V] [--resume RUN] [--locked LOCK] [--store PATH] [--nproc N]``.

Validates the config and its tensor contracts first (as ``torchrack validate``), then trains and
evaluates, recording the run in the store. ``--resume RUN`` continues an interrupted run from its
last checkpoint; ``--locked LOCK`` refuses to start when components differ from the lock file.

``--nproc N`` launches N worker processes through torch.distributed.run (see
:mod:`torchrack._launch`); each worker is this same command without ``--nproc``. In a worker (or
any process that torchrun started) only the main process, rank 0, opens the run store for
writing and runs the trackers; the other ranks train and evaluate their shards.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from torchrack._config import ResolvedConfig
from torchrack._errors import TorchrackError
from torchrack._registry import Registry
from torchrack.cli._common import (
    add_config_arguments,
    add_store_argument,
    open_store,
    plugin_manager,
    resolve,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from torchrack._launch import add_launch_arguments

    add_config_arguments(parser)
    add_store_argument(parser)
    parser.add_argument("--resume", metavar="RUN", help="continue run RUN (an id or 'latest')")
    parser.add_argument("--locked", metavar="LOCK", help="refuse to start unless the lock matches")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar (default: on when stderr is a terminal)")
    add_launch_arguments(parser)


def _check(args: argparse.Namespace, registry: Registry, resolved: ResolvedConfig) -> None:
    """The lock (with ``--locked``) and the tensor contracts, before any compute."""
    if args.locked:
        from torchrack._lock import LockMismatchError, compare_lock, make_lock, read_lock
        from torchrack._trainer import component_records

        current = make_lock(resolved.sha256, component_records(resolved, registry), registry.torch_version)
        diffs = compare_lock(read_lock(args.locked), current)
        if diffs:
            raise LockMismatchError(args.locked, diffs)

    from torchrack._pipeline import ContractError
    from torchrack.cli._validate import contract_problems

    problems = contract_problems(resolved, registry)
    if problems:
        raise ContractError(args.config, problems)


def _resume_record(store: Any, ref: str, resolved: ResolvedConfig) -> dict[str, Any]:
    resume: dict[str, Any] = store.get(ref)
    if resume["config_sha256"] != resolved.sha256:
        raise TorchrackError(
            f"run {resume['run_id']} was made from a different config "
            f"(sha256 {resume['config_sha256'][:12]}..., this one {resolved.sha256[:12]}...); "
            "resume it with the same config and overrides"
        )
    if resume["status"] == "completed":
        raise TorchrackError(f"run {resume['run_id']} is already completed; nothing to resume")
    return resume


def _launch(args: argparse.Namespace) -> int:
    """``--nproc N``: check everything once here, then start the workers through torchrun."""
    from torchrack._launch import launch
    from torchrack._store import RunStore
    from torchrack._trainer import build_accelerator

    registry, resolved = resolve(args)
    _check(args, registry, resolved)
    acc = build_accelerator(resolved, registry)
    if not getattr(acc, "distributed", False):
        named = resolved.config.get("accelerator", {}).get("name", "none (the built-in cpu)")
        raise TorchrackError(
            f"--nproc {args.nproc} needs a distributed accelerator, but the config's accelerator is "
            f"{named}; set accelerator = {{ name = \"ddp\" }} in {args.config} "
            "(or --set accelerator.name=ddp)"
        )
    store_path = Path(args.store or RunStore.default_path()).expanduser().resolve()
    resume_id = None
    if args.resume:
        with RunStore(store_path, create=False) as store:
            resume_id = _resume_record(store, args.resume, resolved)["run_id"]
    return launch(args, store=store_path, resume_id=resume_id)


def run(args: argparse.Namespace) -> int:
    if args.nproc is not None:
        return _launch(args)
    for name in ("nnodes", "node_rank", "rdzv_backend", "rdzv_endpoint", "rdzv_id", "master_addr",
                 "master_port", "timeout"):
        if getattr(args, name, None) is not None:
            flag = "--" + name.replace("_", "-")
            raise TorchrackError(f"{flag} is a launcher option: use it with --nproc N")

    from torchrack._launch import LAUNCH_FILE_ENV
    from torchrack._trainer import build_accelerator, fit

    registry, resolved = resolve(args)
    launch_file = os.environ.get(LAUNCH_FILE_ENV)
    if not launch_file:  # a worker of `--nproc`: the launcher checked all of this already
        _check(args, registry, resolved)
    acc = build_accelerator(resolved, registry)
    rank = int(getattr(acc, "rank", 0))
    try:
        main = bool(acc.is_main)
        store = open_store(args.store) if main else None
        resume = None
        if args.resume:
            if store is not None:
                resume = _resume_record(store, args.resume, resolved)
            else:  # another rank: read the record, write nothing
                from torchrack._store import RunStore

                path = args.store or RunStore.default_path()
                with RunStore(path, create=False) as reader:
                    resume = _resume_record(reader, args.resume, resolved)
        if main:
            pm = plugin_manager(resolved, registry, store)
            if launch_file and store is not None:
                from torchrack._launch import LaunchReporter

                pm.register(LaunchReporter(launch_file, str(Path(store.path).resolve())),
                            name="torchrack-launch")
        else:
            pm = plugin_manager(None, registry, None)
        result = fit(resolved, registry, pm, store=store, resume=resume, progress=args.progress,
                     accelerator=acc)
    except TorchrackError as exc:
        if rank == 0:
            raise
        raise TorchrackError(f"rank {rank}: {exc}") from exc
    if not main:
        return 0
    shown = ", ".join(f"{k} {v:.4f}" for k, v in result.final_metrics.items() if isinstance(v, float))
    print(f"run {result.id} ({result.name}) completed: {shown}")
    assert store is not None
    print(f"recorded in {store.path}; look at it with `torchrack runs show {result.id}`",
          file=sys.stderr)
    return 0
