"""Image-folder streaming throughput: torchrack's ``image_folder`` against a plain Pillow +
DataLoader loop over the same files, at 0, 1 and 2 DataLoader workers.

A seeded folder of JPEG images (``--classes`` x ``--per-class``, ``--source`` pixels square) is
written to a temporary directory; both sides decode every image with Pillow, convert it to RGB,
resize it to ``--size`` (bilinear) and give float32 ``[B, 3, size, size]`` batches in [0, 1]:

- ``torchrack``: ``image_folder``'s ``stream("train")`` (resolved through ``torchrack.Registry``)
  read by the trainer's streaming path (:class:`torchrack_runs._stream.Streamed`: the epoch's
  seeded permutation cut into batches, a DataLoader with that batch sampler, failures turned into
  messages);
- ``plain``: a minimal ``torch.utils.data.Dataset`` over the sorted file list doing the same
  Pillow calls, read by ``DataLoader(batch_size=B, sampler=<the same permutation>)``.

After a warm-up pass, the two are timed alternately, one full pass over the folder per timing
(worker start-up included, as in an epoch), ``--repeats`` rounds. Prints one JSON line per worker
count with the median decoded images/s of each and ``ratio``, the median over rounds of
torchrack / plain timed back to back (robust to a machine whose load drifts; target >= 0.95).

    python benchmarks/image_folder.py [--workers 0,1,2] [--repeats 5] [--per-class 120]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image


def write_folder(root: Path, classes: int, per_class: int, source: int) -> int:
    rng = np.random.default_rng(0)
    for k in range(classes):
        folder = root / f"class_{k:02d}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            # smooth random images (a noisy gradient), so JPEG sizes are realistic
            base = np.linspace(0, 255, source)[None, :, None] * rng.random(3)[None, None, :]
            noise = rng.normal(0, 25, size=(source, source, 3))
            pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:04d}.jpg", quality=90)
    return classes * per_class


class PlainFolder(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """What one writes by hand: sorted files, Pillow decode and resize, to a float tensor."""

    def __init__(self, root: Path, size: int) -> None:
        classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        self.items = [(str(f), k) for k, c in enumerate(classes) for f in sorted((root / c).glob("*.jpg"))]
        self.size = size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[index]
        with Image.open(path) as img:
            img = img.convert("RGB").resize((self.size, self.size), Image.Resampling.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
        x = torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous().to(torch.float32).div_(255.0)
        return x, label


class _Slot:
    key, info, ref = "data.dataset", None, {"name": "image_folder"}


def run(args: argparse.Namespace) -> None:
    from torchrack import Registry
    from torchrack_runs._stream import Streamed

    with tempfile.TemporaryDirectory(prefix="torchrack-bench-") as tmp:
        root = Path(tmp) / "images"
        n = write_folder(root, args.classes, args.per_class, args.source)
        dataset = Registry.discover().get("dataset", "image_folder")(root=str(root), size=args.size,
                                                                     test_fraction=0)
        plain = PlainFolder(root, args.size)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
        steps = -(-n // args.batch)

        for workers in args.workers:
            streamed = Streamed(_Slot(), dataset, "train", "train", workers=workers, pin_memory=False)  # type: ignore[arg-type]

            def ours(streamed: Streamed = streamed) -> int:
                seen = 0
                for x, _ in streamed.train_batches(perm, args.batch, steps, lambda idx: idx, 0):
                    seen += len(x)
                return seen

            def theirs(workers: int = workers) -> int:
                loader = torch.utils.data.DataLoader(plain, batch_size=args.batch, sampler=perm.tolist(),
                                                     num_workers=workers)
                return sum(len(x) for x, _ in loader)

            timings: dict[str, list[float]] = {"torchrack": [], "plain": []}
            ratios: list[float] = []
            fns: dict[str, Any] = {"torchrack": ours, "plain": theirs}
            for fn in fns.values():  # warm-up: page cache, imports
                assert fn() == n
            for r in range(args.repeats):
                order = ["torchrack", "plain"] if r % 2 == 0 else ["plain", "torchrack"]
                for name in order:
                    t0 = time.perf_counter()
                    assert fns[name]() == n
                    timings[name].append(n / (time.perf_counter() - t0))
                ratios.append(timings["torchrack"][-1] / timings["plain"][-1])
            ours_rate = statistics.median(timings["torchrack"])
            plain_rate = statistics.median(timings["plain"])
            print(json.dumps({
                "benchmark": "image_folder", "workers": workers, "images": n, "batch_size": args.batch,
                "source_px": args.source, "size": args.size, "repeats": args.repeats,
                "torchrack_images_per_s": round(ours_rate, 1), "plain_images_per_s": round(plain_rate, 1),
                "ratio": round(statistics.median(ratios), 3), "target_ratio": 0.95,
                "torch": torch.__version__, "threads": torch.get_num_threads(),
                "cpu": platform.processor() or platform.machine(),
            }), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=120)
    parser.add_argument("--source", type=int, default=96, help="side of the JPEGs written")
    parser.add_argument("--size", type=int, default=64, help="side they are resized to")
    parser.add_argument("--batch", type=int, default=64)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
