"""``__NAME__`` dataset: seeded synthetic images of class blobs, all in memory."""

from __future__ import annotations

import torch
from torch import Tensor


class __CLASS__:
    """Images ``[N, channels, size, size]`` (float32 in [0, 1]) and class indices ``[N]``.

    Each class has a random prototype; a sample is half its prototype, half noise. Every draw
    comes from a ``torch.Generator`` seeded by ``seed``, never from the global RNG, so the same
    params always give the same data.
    """

    splits: tuple[str, ...] = ("train", "test")

    def __init__(
        self,
        num_classes: int = 3,
        channels: int = 1,
        size: int = 8,
        train_size: int = 96,
        test_size: int = 32,
        seed: int = 0,
    ) -> None:
        for key, value in (("num_classes", num_classes), ("channels", channels), ("size", size)):
            if value < 1:
                raise ValueError(f"__NAME__ dataset: {key} must be >= 1, found {value}")
        self.num_classes = num_classes
        self.channels = channels
        self.size = size
        self.sizes = {"train": train_size, "test": test_size}
        self.seed = seed

    def load(self, split: str) -> tuple[Tensor, Tensor]:
        """The whole ``split``: ``(inputs [N, C, H, W] float32, targets [N] int64)``."""
        if split not in self.splits:
            raise KeyError(f"__NAME__ dataset: unknown split {split!r}; expected one of {self.splits}")
        gen = torch.Generator().manual_seed(self.seed)
        shape = (self.channels, self.size, self.size)
        prototypes = torch.rand(self.num_classes, *shape, generator=gen)
        gen.manual_seed(self.seed + 1 + self.splits.index(split))
        n = self.sizes[split]
        targets = torch.arange(n) % self.num_classes
        noise = torch.rand(n, *shape, generator=gen)
        return 0.5 * prototypes[targets] + 0.5 * noise, targets
