"""Per-step overhead of the trainer: steps/s of torchrack's hot loop against a plain PyTorch loop.

The workload is where per-step overhead shows most: the digits (8x8, 64 features, 1,437 training
samples), an MLP backbone (64 -> 128 -> 64, ReLU) and a linear head (64 -> 10), cross-entropy,
SGD with momentum 0.9, batch 32, on the CPU, one thread. Each optimizer step is a few hundred
microseconds, so anything the trainer adds per step is visible.

- ``trainer``: the config built by the trainer's own functions (the registry, ``build``,
  ``build_optimizer``, the ``[train]`` strategies' :class:`Stepper`) and trained by
  ``train_epoch``, the loop ``fit`` runs, with ``clip_grad_norm = 1.0``, ``accumulate = 1``, EMA
  off and the non-finite check on (the default): the loss of every step is read (one step late)
  and checked. Store, hooks and evaluation are left out (they run per epoch, not per step).
- ``plain``: the same modules (same initial weights), ``torch.optim.SGD``, ``F.cross_entropy`` and
  ``clip_grad_norm_``, in a for loop over the same batches: what one writes by hand. It clips
  too, so the ratio is the trainer's overhead, not the cost of clipping.

The two are timed alternately, round by round (the order alternating), each round one epoch (45
steps); the median of the per-round ratios trainer/plain is printed with the target (>= 0.97).

    python benchmarks/step_overhead.py [--rounds 40] [--threads 1] [--batch 32]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import textwrap
import time
from typing import Any

import torch
import torch.nn.functional as F

TARGET_RATIO = 0.97

CONFIG = textwrap.dedent("""\
    schema_version = 1
    [run]
    name = "step-overhead"
    [data]
    dataset = {{ name = "digits" }}
    batch_size = {batch}
    [model]
    backbone = {{ name = "mlp", params = {{ widths = [128, 64] }} }}
    head = {{ name = "linear", params = {{ in_features = 64, num_classes = 10 }} }}
    [loss]
    name = "cross_entropy"
    [optimizer]
    name = "sgd"
    params = {{ lr = 0.05, momentum = 0.9 }}
    [train]
    clip_grad_norm = 1.0
    """)


class Trainer:
    """What ``torchrack run`` builds, stepped by ``train_epoch``."""

    def __init__(self, batch: int) -> None:
        from torchrack import Registry
        from torchrack_runs._config import resolve_config
        from torchrack_runs._optim import build_optimizer
        from torchrack_runs._strategies import Stepper, TrainSettings
        from torchrack_runs._toml import toml_loads
        from torchrack_runs._trainer import build, build_accelerator

        registry = Registry.discover()
        resolved = resolve_config(toml_loads(CONFIG.format(batch=batch)), registry, "benchmark")
        self.acc = build_accelerator(resolved, registry)
        self.acc.setup()
        self.pipe = build(resolved, registry, 0, self.acc)
        self.x, self.y = self.pipe.dataset.load("train")
        self.settings = TrainSettings.from_config(resolved.config)
        self.opt = build_optimizer(resolved, registry, self.pipe.model.parameters())
        self.stepper = Stepper(self.opt, self.settings)
        self.pipe.forward = self.acc.prepare_model(self.pipe.model)
        self.gen = torch.Generator().manual_seed(1)

    def epoch(self, perm: torch.Tensor, batch: int, steps: int) -> None:
        from torchrack_runs._trainer import train_epoch

        self.pipe.model.train()
        train_epoch(self.pipe, self.stepper, self.x, self.y, perm, batch_size=batch, steps=steps,
                    generator=self.gen, check_finite=self.settings.stop_on_non_finite)


class Plain:
    """The same model, by hand."""

    def __init__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        self.model = copy.deepcopy(model)
        self.x, self.y = x, y
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9)

    def epoch(self, perm: torch.Tensor, batch: int, steps: int) -> None:
        model, opt, x, y = self.model, self.opt, self.x, self.y
        model.train()
        params = list(model.parameters())
        for step in range(steps):
            idx = perm[step * batch:(step + 1) * batch]
            xb, yb = x[idx].float(), y[idx]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="timed rounds per side (one epoch each)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds per side first")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    trainer = Trainer(args.batch)
    plain = Plain(trainer.pipe.model, trainer.x, trainer.y)
    n = len(trainer.x)
    steps = -(-n // args.batch)
    order = torch.Generator().manual_seed(0)
    sides: dict[str, Any] = {"plain": plain, "trainer": trainer}
    for _ in range(args.warmup):
        for side in sides.values():
            side.epoch(torch.randperm(n, generator=order), args.batch, steps)
    rates: dict[str, list[float]] = {"plain": [], "trainer": []}
    for r in range(args.rounds):
        names = ["plain", "trainer"] if r % 2 == 0 else ["trainer", "plain"]
        perm = torch.randperm(n, generator=order)
        for name in names:
            start = time.perf_counter()
            sides[name].epoch(perm, args.batch, steps)
            rates[name].append(steps / (time.perf_counter() - start))
    trainer.acc.teardown()
    ratios = [a / b for a, b in zip(rates["trainer"], rates["plain"], strict=True)]
    out = {
        "benchmark": "step_overhead", "device": platform.processor() or platform.machine(),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "batch": args.batch,
        "model": "digits mlp 64-128-64 + linear 64-10", "steps_per_round": steps,
        "rounds": args.rounds, "clip_grad_norm": 1.0, "accumulate": 1, "ema": False,
        "non_finite_check": True,
        "plain_steps_per_s": round(statistics.median(rates["plain"]), 1),
        "trainer_steps_per_s": round(statistics.median(rates["trainer"]), 1),
        "ratio": round(statistics.median(ratios), 4),
        "ratio_min": round(min(ratios), 4), "ratio_max": round(max(ratios), 4),
        "target_ratio": TARGET_RATIO,
    }
    out["meets_target"] = out["ratio"] >= TARGET_RATIO
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
