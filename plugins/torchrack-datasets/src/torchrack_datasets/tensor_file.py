"""``tensor_file``: a user's ``.npz`` or ``.pt`` file of inputs and targets, loaded without unpickling.

The file holds two arrays (names set by ``inputs_key`` and ``targets_key``): inputs ``[N, C, H, W]``
(or ``[N, H, W]``, given a channel dim of 1) of any numeric dtype, returned as float32 without
rescaling, and integer targets ``[N]``, returned as int64. An optional ``sha256`` pins the file's
content and an optional ``input_shape`` ([C, H, W]) pins its sample shape. The train/test split is
seeded and stratified, as for ``digits``; with ``test_fraction`` 0 there is only a ``train`` split.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from torchrack_datasets._base import ArrayDataset
from torchrack_datasets._errors import (
    DatasetParamError,
    MissingKeyError,
    ShapeMismatchError,
)
from torchrack_datasets._files import load_arrays, split_indices, verify_sha256

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def _as_tensor(value: Any) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return torch.from_numpy(np.ascontiguousarray(value))


class TensorFile(ArrayDataset):
    """Inputs and targets from one ``.npz``/``.pt`` file; see the module docstring."""

    name = "tensor_file"

    def __init__(
        self,
        path: str,
        inputs_key: str = "inputs",
        targets_key: str = "targets",
        sha256: str | None = None,
        input_shape: list[int] | None = None,
        num_classes: int | None = None,
        test_fraction: float = 0.2,
        split_seed: int = 0,
    ) -> None:
        super().__init__()
        if sha256 is not None and not _SHA256.match(sha256):
            raise DatasetParamError(
                f"tensor_file: sha256 must be 64 hex digits, found {sha256!r}"
            )
        if not 0.0 <= test_fraction < 1.0:
            raise DatasetParamError(
                f"tensor_file: test_fraction must be in [0, 1), found {test_fraction}"
            )
        self.path = Path(path).expanduser()
        self.inputs_key, self.targets_key = inputs_key, targets_key
        self.sha256 = sha256
        self.input_shape = None if input_shape is None else [int(d) for d in input_shape]
        self._num_classes = num_classes
        self.test_fraction = float(test_fraction)
        self.split_seed = int(split_seed)
        self.splits = ("train", "test") if test_fraction > 0 else ("train",)
        self._arrays: tuple[Tensor, Tensor] | None = None

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        """``num_classes`` when given, else one more than the largest target in the file."""
        if self._num_classes is not None:
            return int(self._num_classes)
        targets = self._read()[1]
        return int(targets.max()) + 1 if targets.numel() else 0

    def _read(self) -> tuple[Tensor, Tensor]:
        if self._arrays is not None:
            return self._arrays
        path = self.path
        if self.sha256 is not None and path.is_file():
            verify_sha256(
                path, self.sha256, "the file changed since its hash was recorded; check the "
                "file or update the 'sha256' param"
            )
        arrays = load_arrays(path)
        for key, param in ((self.inputs_key, "inputs_key"), (self.targets_key, "targets_key")):
            if key not in arrays:
                raise MissingKeyError(path, key, param, sorted(arrays))
        inputs = _as_tensor(arrays[self.inputs_key])
        targets = _as_tensor(arrays[self.targets_key])
        if inputs.dim() == 3:
            inputs = inputs.unsqueeze(1)
        if inputs.dim() != 4:
            raise ShapeMismatchError(
                f"{path}: {self.inputs_key!r}: expected shape [N, C, H, W] or [N, H, W], found "
                f"{list(inputs.shape)}",
                path,
            )
        if self.input_shape is not None and list(inputs.shape[1:]) != self.input_shape:
            raise ShapeMismatchError(
                f"{path}: {self.inputs_key!r}: expected sample shape {self.input_shape} "
                f"(param input_shape), found {list(inputs.shape[1:])} (array shape "
                f"{list(inputs.shape)})",
                path,
            )
        if targets.dim() != 1 or targets.shape[0] != inputs.shape[0]:
            raise ShapeMismatchError(
                f"{path}: {self.targets_key!r}: expected shape [{inputs.shape[0]}] (one target "
                f"per input), found {list(targets.shape)}",
                path,
            )
        if targets.dtype.is_floating_point or targets.dtype.is_complex or targets.dtype == torch.bool:
            raise ShapeMismatchError(
                f"{path}: {self.targets_key!r}: expected integer class indices, found dtype "
                f"{str(targets.dtype).removeprefix('torch.')}",
                path,
            )
        if inputs.dtype.is_complex or inputs.dtype == torch.bool:
            raise ShapeMismatchError(
                f"{path}: {self.inputs_key!r}: expected a real numeric dtype, found "
                f"{str(inputs.dtype).removeprefix('torch.')}",
                path,
            )
        self._arrays = (inputs.to(torch.float32).contiguous(), targets.to(torch.int64))
        return self._arrays

    def _load(self, split: str) -> tuple[Tensor, Tensor]:
        inputs, targets = self._read()
        if self.splits == ("train",):
            return inputs, targets
        idx = split_indices(targets.numpy(), self.test_fraction, self.split_seed)[split]
        index = torch.from_numpy(idx)
        return inputs[index], targets[index]
