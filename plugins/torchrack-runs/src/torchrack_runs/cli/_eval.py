"""``torchrack eval RUN [--metrics NAME ...] [--split SPLIT] [--store PATH]``.

Rebuilds a recorded run's components from its config, loads its checkpoint (weights only) and
evaluates it separately from training; the result is added to the same run's record.
"""

from __future__ import annotations

import argparse

from torchrack_runs._runner import evaluate_recorded
from torchrack_runs._store import RunStore
from torchrack_runs.cli._common import add_store_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run id or 'latest'")
    parser.add_argument("--metrics", nargs="+", metavar="NAME",
                        help="metric components to use instead of the config's")
    parser.add_argument("--split", help="dataset split (default: the config's eval split)")
    add_store_argument(parser)


def run(args: argparse.Namespace) -> int:
    with RunStore(args.store or RunStore.default_path(), create=False) as store:
        record, metrics, split, epoch = evaluate_recorded(store, args.run, metrics=args.metrics,
                                                          split=args.split)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
    print(f"run {record['run_id']} evaluated on {split!r} (checkpoint epoch {epoch + 1}): {shown}")
    return 0
