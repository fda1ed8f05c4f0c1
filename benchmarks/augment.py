"""Augmentation throughput: a batched crop + flip + normalize pipeline against a per-sample loop and kornia.

The pipeline, on CIFAR-shaped float32 batches [N, 3, 32, 32] on CPU:
random crop 32x32 after zero padding by 4, horizontal flip with p = 0.5, per-channel normalize.

- ``batched``: torchrack-augment's ``RandomCrop`` -> ``HFlip`` -> ``Normalize`` on the whole batch
  (resolved through ``torchrack.Registry``, as a run would), seeded by a ``torch.Generator``;
- ``loop``: the same operations one sample at a time (pad, slice, flip, normalize, then stack),
  as a per-sample transform in a data loader does;
- ``kornia``: ``kornia.augmentation.RandomCrop((32, 32), padding=4)`` ->
  ``RandomHorizontalFlip()`` -> ``Normalize(mean, std)`` in an ``nn.Sequential``.

After a warm-up, the three are timed alternately, round by round (the order rotates), each timing
processing about ``--images`` images (several calls at small batch sizes). Prints one JSON line per
batch size with the median images/s of each and the ratios batched/loop and batched/kornia. When
kornia cannot be imported, its fields are null and ``kornia`` says why.
Target: batched ahead of kornia (ratio > 1) at batch >= 256.

    python benchmarks/augment.py [--sizes 32,64,128,256,512,1024] [--repeats 15] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as tnf
from torch import Tensor

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
PAD = 4
SIZE = 32

Pipeline = Callable[[Tensor, Tensor], Tensor]


def batched_pipeline(seed: int = 0) -> Pipeline:
    """torchrack-augment's components, resolved by name through the registry."""
    from torchrack import Registry

    reg = Registry.discover()
    crop = reg.get("augmentation", "random_crop")(size=SIZE, padding=PAD, padding_mode="zeros")
    flip = reg.get("augmentation", "hflip")(p=0.5)
    norm = reg.get("augmentation", "normalize")(mean=list(MEAN), std=list(STD))
    gen = torch.Generator().manual_seed(seed)

    def run(x: Tensor, y: Tensor) -> Tensor:
        x, y = crop(x, y, generator=gen)
        x, y = flip(x, y, generator=gen)
        return norm(x, y)[0]

    return run


def loop_pipeline(seed: int = 0) -> Pipeline:
    """The same operations, one sample at a time, with the same kind of seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)

    def run(x: Tensor, y: Tensor) -> Tensor:
        out = []
        for img in x:
            padded = tnf.pad(img, (PAD, PAD, PAD, PAD))
            top, left, flip = torch.randint(0, 2 * PAD + 1, (3,), generator=gen).tolist()
            img = padded[:, top : top + SIZE, left : left + SIZE]
            if flip % 2:
                img = img.flip(-1)
            out.append((img - mean) / std)
        return torch.stack(out)

    return run


def kornia_pipeline() -> tuple[Pipeline | None, str]:
    """kornia's equivalent, or None and the reason it is unavailable."""
    try:
        import kornia
        import kornia.augmentation as K
    except Exception as exc:  # noqa: BLE001 - any import failure means "unavailable"
        return None, f"unavailable: {type(exc).__name__}: {exc}"
    seq = torch.nn.Sequential(
        K.RandomCrop((SIZE, SIZE), padding=PAD),
        K.RandomHorizontalFlip(p=0.5),
        K.Normalize(mean=torch.tensor(MEAN), std=torch.tensor(STD)),
    )

    def run(x: Tensor, y: Tensor) -> Tensor:
        return seq(x)

    return run, f"kornia {kornia.__version__}"


def time_once(fn: Pipeline, batches: list[tuple[Tensor, Tensor]]) -> float:
    start = time.perf_counter()
    for x, y in batches:
        fn(x, y)
    return time.perf_counter() - start


def measure(size: int, repeats: int, images: int, pipelines: dict[str, Pipeline | None]) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(size)
    calls = max(1, images // size)
    batches = [
        (torch.rand(size, 3, SIZE, SIZE, generator=gen), torch.randint(0, 10, (size,), generator=gen))
        for _ in range(calls)
    ]
    live = {name: fn for name, fn in pipelines.items() if fn is not None}
    for fn in live.values():  # warm-up: allocator, kernels, kornia's lazy setup
        for _ in range(2):
            time_once(fn, batches[:1])
    times: dict[str, list[float]] = {name: [] for name in live}
    names = list(live)
    with torch.inference_mode():
        for r in range(repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                times[name].append(time_once(live[name], batches))
    out: dict[str, Any] = {"batch": size, "calls_per_timing": calls}
    for name in pipelines:
        if name in times:
            med = statistics.median(times[name])
            out[f"{name}_median_s"] = round(med / calls, 7)
            out[f"{name}_img_per_s"] = round(size * calls / med)
        else:
            out[f"{name}_median_s"] = None
            out[f"{name}_img_per_s"] = None
    for other in ("loop", "kornia"):
        theirs = out.get(f"{other}_img_per_s")
        out[f"batched_over_{other}"] = round(out["batched_img_per_s"] / theirs, 2) if theirs else None
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="32,64,128,256,512,1024")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--images", type=int, default=1024, help="images per timing (about)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args, _ = parser.parse_known_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    kornia_fn, kornia_note = kornia_pipeline()
    pipelines: dict[str, Pipeline | None] = {
        "batched": batched_pipeline(),
        "loop": loop_pipeline(),
        "kornia": kornia_fn,
    }
    for size in (int(s) for s in args.sizes.split(",") if s.strip()):
        result = {
            "benchmark": "augment",
            "pipeline": "random_crop(pad 4, zeros) + hflip(0.5) + normalize",
            "shape": [size, 3, SIZE, SIZE],
            "dtype": "float32",
            "device": "cpu",
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "kornia": kornia_note,
            "python": platform.python_version(),
            **measure(size, args.repeats, args.images, pipelines),
            "target": "batched_over_kornia > 1 at batch >= 256",
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
