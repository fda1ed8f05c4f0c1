"""``torchrack eval RUN [--metrics NAME ...] [--split SPLIT] [--store PATH]``.

Rebuilds a recorded run's components from its config, loads its checkpoint (weights only) and
evaluates it separately from training; the result is added to the same run's record.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from torchrack._errors import TorchrackError
from torchrack.cli._common import add_store_argument, open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run id or 'latest'")
    parser.add_argument("--metrics", nargs="+", metavar="NAME",
                        help="metric components to use instead of the config's")
    parser.add_argument("--split", help="dataset split (default: the config's eval split)")
    add_store_argument(parser)


def run(args: argparse.Namespace) -> int:
    import torch

    from torchrack._config import Slot, resolve_config
    from torchrack._pipeline import instantiate
    from torchrack._registry import Registry
    from torchrack._trainer import build, evaluate

    store = open_store(args.store)
    record = store.get(args.run)
    ckpt_path = record.get("checkpoint")
    if not ckpt_path or not Path(ckpt_path).is_file():
        raise TorchrackError(f"run {record['run_id']} has no checkpoint at {ckpt_path}")
    registry = Registry.discover()
    resolved = resolve_config(record["config"], registry, f"run {record['run_id']}")
    metric_slots = None
    if args.metrics:
        metric_slots = []
        for i, name in enumerate(args.metrics):
            slot = Slot(f"--metrics[{i}]", f"/--metrics/{i}", "metric", {"name": name})
            slot.info = registry.resolve("metric", name)
            from torchrack._schemas import params_with_defaults

            slot.params = params_with_defaults(slot.info.params_schema, {})
            metric_slots.append((slot, instantiate(slot, registry)))
    pipe = build(resolved, registry, int(record["seed"]))
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    pipe.model.load_state_dict(ckpt["model"])
    split = args.split or resolved.config["data"].get("eval_split", "test")
    x, y = pipe.dataset.load(split)
    data = resolved.config["data"]
    batch = int(data.get("eval_batch_size", data.get("batch_size", 64) * 4))
    pipe.accelerator.setup()
    try:
        metrics = evaluate(pipe, resolved, registry, x, y, batch, metric_slots=metric_slots)
    finally:
        pipe.accelerator.teardown()
    store.add_evaluation(record["run_id"], split, metrics, ckpt_path, "eval")
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
    print(f"run {record['run_id']} evaluated on {split!r} (checkpoint epoch {ckpt['epoch'] + 1}): {shown}")
    return 0
