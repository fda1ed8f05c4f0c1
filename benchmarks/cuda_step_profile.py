"""Where a tuned CUDA step's time goes: host launch time vs step time, per augmentation chain.

For the "tuned" variant of modular_vs_monolithic (bf16, channels_last, torch.compile
"reduce-overhead"), prints one JSON line per configuration:

- per side (monolithic; modular with the crop, hflip and normalize components; modular with the
  monolithic's fused augmentation): host time to launch a step and the whole step time. When the
  two are equal the loop is CPU-bound: every microsecond of Python and launches per step counts.
- per augmentation component and for the fused one: host launch time and total time per call.

Needs a CUDA GPU (run it after benchmarks/gpu_check.sh has installed the packages).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
import modular_vs_monolithic as b  # noqa: E402

BATCH, STEPS, SEED = 512, 20, 0


def _side(side: Any, label: str, perm: Any, rounds: int = 12) -> None:
    for _ in range(2):
        side.steps(perm(), BATCH, STEPS)
    torch.cuda.synchronize()
    launch, total = [], []
    for _ in range(rounds):
        p = perm()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        side.steps(p, BATCH, STEPS)
        t1 = time.perf_counter()
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        launch.append((t1 - t0) / STEPS * 1e3)
        total.append((t2 - t0) / STEPS * 1e3)
    step = statistics.median(total)
    print(json.dumps({"benchmark": "cuda_step_profile", "side": label,
                      "launch_ms_per_step": round(statistics.median(launch), 3),
                      "total_ms_per_step": round(step, 3), "images_per_s": round(BATCH / step * 1e3)}),
          flush=True)


def _call(label: str, fn: Any, calls: int = 200) -> None:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    t1 = time.perf_counter()
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    print(json.dumps({"benchmark": "cuda_step_profile", "augmentation": label,
                      "launch_us": round((t1 - t0) / calls * 1e6, 1),
                      "total_us": round((t2 - t0) / calls * 1e6, 1)}), flush=True)


def main() -> int:
    if not torch.cuda.is_available():
        print(json.dumps({"benchmark": "cuda_step_profile", "skipped": "needs a CUDA GPU"}))
        return 0
    v = b.VARIANTS["tuned"]
    modular = b.Modular(v, 20, 16, BATCH * STEPS, SEED)
    x, y = modular.data_cpu
    mono = b.Monolithic(v, x, y, 20, 16, SEED)
    order = torch.Generator().manual_seed(SEED)

    def perm() -> Any:
        return torch.randperm(BATCH * STEPS, generator=order).to("cuda")

    components = list(modular.pipe.augs)
    fused = [(components[0][0], lambda xb, yb, generator=None: (mono.augment(xb), yb))]
    for _ in range(2):
        _side(mono, "monolithic", perm)
        modular.pipe.augs = components
        _side(modular, "modular: crop, hflip, normalize components", perm)
        modular.pipe.augs = fused
        _side(modular, "modular with the monolithic's fused augmentation", perm)
    xb, yb, gen = modular.x[:BATCH], modular.y[:BATCH], modular.gen
    for slot, aug in components:
        assert slot.info is not None
        _call(slot.info.name, lambda aug=aug, xb=xb: aug(xb, yb, generator=gen))
        xb = aug(xb, yb, generator=gen)[0]
    _call("monolithic fused", lambda: mono.augment(modular.x[:BATCH]))
    modular.acc.teardown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
