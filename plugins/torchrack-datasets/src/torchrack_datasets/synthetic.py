"""``synthetic_images``: seeded random images of any shape and class count, for benchmarks and tests.

Each class has a random prototype image; a sample is ``0.5 * prototype + 0.5 * noise`` (uniform),
so the task is learnable but not trivial. Everything comes from ``torch.Generator`` objects seeded
by ``seed`` (one per split), never from the global RNG: the same params give the same tensors,
whatever the order in which splits are loaded.
"""

from __future__ import annotations

import torch
from torch import Tensor

from torchrack_datasets._base import ArrayDataset
from torchrack_datasets._errors import DatasetParamError

_SPLIT_STREAMS = {"train": 1, "test": 2}


class SyntheticImages(ArrayDataset):
    """Random images ``[size, channels, height, width]`` with ``num_classes`` classes per split.

    ``dtype`` "float32" gives values in [0, 1]; "uint8" gives 0..255 (CIFAR-like raw bytes).
    """

    name = "synthetic_images"

    def __init__(
        self,
        channels: int = 3,
        height: int = 32,
        width: int = 32,
        num_classes: int = 10,
        train_size: int = 1024,
        test_size: int = 256,
        seed: int = 0,
        dtype: str = "float32",
    ) -> None:
        super().__init__()
        for pname, value, low in (
            ("channels", channels, 1),
            ("height", height, 1),
            ("width", width, 1),
            ("num_classes", num_classes, 1),
            ("train_size", train_size, 0),
            ("test_size", test_size, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise DatasetParamError(
                    f"synthetic_images: {pname} must be an integer >= {low}, found {value!r}"
                )
        if dtype not in ("float32", "uint8"):
            raise DatasetParamError(
                f"synthetic_images: dtype must be 'float32' or 'uint8', found {dtype!r}"
            )
        self.channels, self.height, self.width = channels, height, width
        self.num_classes = num_classes
        self.sizes = {"train": train_size, "test": test_size}
        self.seed = int(seed)
        self.dtype = dtype

    def _load(self, split: str) -> tuple[Tensor, Tensor]:
        shape = (self.channels, self.height, self.width)
        protos = torch.rand(
            (self.num_classes, *shape), generator=torch.Generator().manual_seed(self.seed)
        )
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + _SPLIT_STREAMS[split])
        n = self.sizes[split]
        targets = torch.randint(0, self.num_classes, (n,), generator=gen, dtype=torch.int64)
        inputs = 0.5 * protos[targets] + 0.5 * torch.rand((n, *shape), generator=gen)
        if self.dtype == "uint8":
            return (inputs * 255).round_().to(torch.uint8), targets
        return inputs.contiguous(), targets
