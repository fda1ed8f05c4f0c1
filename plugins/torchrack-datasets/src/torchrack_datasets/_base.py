"""What the three datasets share: split names, the split check, a per-split cache."""

from __future__ import annotations

from torch import Tensor
from torchrack import TorchrackError


class UnknownSplitError(TorchrackError, KeyError):
    """A split name the dataset does not have."""

    def __str__(self) -> str:
        return str(self.args[0])


class ArrayDataset:
    """Base of the datasets here: ``splits``, ``num_classes`` and ``load(split)`` (cached)."""

    name = "dataset"
    splits: tuple[str, ...] = ("train", "test")
    num_classes: int

    def __init__(self) -> None:
        self._cache: dict[str, tuple[Tensor, Tensor]] = {}

    def _check_split(self, split: str) -> None:
        if split not in self.splits:
            raise UnknownSplitError(
                f"{self.name}: unknown split {split!r}; expected one of: {', '.join(self.splits)}"
            )

    def load(self, split: str) -> tuple[Tensor, Tensor]:
        """The whole ``split`` in memory: ``(inputs [N, C, H, W], targets [N] int64)``."""
        self._check_split(split)
        if split not in self._cache:
            self._cache[split] = self._load(split)
        inputs, targets = self._cache[split]
        # Callers get their own tensors, so that an in-place change cannot leak into the cache.
        return inputs.clone(), targets.clone()

    def _load(self, split: str) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def __len__(self) -> int:
        return sum(int(self.load(s)[1].shape[0]) for s in self.splits)
