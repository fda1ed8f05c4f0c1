"""``digits``: the UCI optical-recognition handwritten digits, 1,797 8x8 grayscale images, 10 classes.

The data ships inside this package as ``digits.npz`` (``images`` uint8 [1797, 8, 8] with pixel
values 0..16, ``labels`` uint8 [1797]), converted once from scikit-learn's copy of the UCI set
(``sklearn/datasets/data/digits.csv.gz``). Its SHA-256, source and licence are recorded in the
package manifest's ``data`` object, and the loader verifies the hash before reading the file.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from torchrack_datasets._base import ArrayDataset
from torchrack_datasets._errors import DatasetParamError, ShapeMismatchError
from torchrack_datasets._files import load_arrays, split_indices, verify_sha256

DATA_FILE = "digits.npz"
NUM_CLASSES = 10
PIXEL_MAX = 16


@lru_cache(maxsize=1)
def manifest_data() -> dict[str, Any]:
    """The ``data`` object of this package's ``torchrack-manifest.json`` (file name -> record)."""
    text = resources.files("torchrack_datasets").joinpath("torchrack-manifest.json").read_text(
        encoding="utf-8"
    )
    data: dict[str, Any] = json.loads(text).get("data", {})
    return data


def data_path() -> Path:
    """Where the shipped ``digits.npz`` is."""
    return Path(str(resources.files("torchrack_datasets").joinpath(DATA_FILE)))


def read_digits(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Verify and read the digits file: ``(images uint8 [1797, 8, 8], labels uint8 [1797])``.

    ``path`` defaults to the shipped file; whichever file is read must have the SHA-256 recorded
    in the manifest, or :class:`~torchrack_datasets.FileHashError` names it.
    """
    path = data_path() if path is None else Path(path)
    expected = manifest_data()[DATA_FILE]["sha256"]
    verify_sha256(
        path,
        expected,
        "the shipped digits data is damaged or was replaced; reinstall torchrack-datasets",
    )
    arrays = load_arrays(path)
    images, labels = arrays["images"], arrays["labels"]
    if images.shape != (1797, 8, 8) or labels.shape != (1797,):
        raise ShapeMismatchError(
            f"{path}: expected images [1797, 8, 8] and labels [1797], found "
            f"{list(images.shape)} and {list(labels.shape)}",
            path,
        )
    return images, labels


class Digits(ArrayDataset):
    """The UCI handwritten digits with a fixed, seeded, stratified train/test split.

    Inputs are float32 ``[N, 1, 8, 8]`` scaled to [0, 1] (raw pixels are 0..16); targets int64
    ``[N]`` in 0..9. ``test_fraction`` of each class goes to ``test``, chosen by ``split_seed``.

    For transfer experiments: ``classes`` keeps only those digits (in both splits; labels keep
    their values, so a 10-way head fits any subset), and ``labels_per_class`` keeps only that many
    training samples of each class, drawn with ``label_seed`` (the test split stays whole).
    """

    name = "digits"

    def __init__(self, test_fraction: float = 0.2, split_seed: int = 0,
                 classes: list[int] | None = None, labels_per_class: int | None = None,
                 label_seed: int = 0) -> None:
        super().__init__()
        if not 0.0 <= test_fraction < 1.0:
            raise DatasetParamError(f"digits: test_fraction must be in [0, 1), found {test_fraction}")
        self.test_fraction = float(test_fraction)
        self.split_seed = int(split_seed)
        self.num_classes = NUM_CLASSES
        if classes is not None:
            bad = [c for c in classes if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < NUM_CLASSES]
            if bad or not classes or len(set(classes)) != len(classes):
                raise DatasetParamError(
                    f"digits: classes must be distinct digits 0..9 (at least one), found {classes!r}")
        self.classes = None if classes is None else sorted(int(c) for c in classes)
        if labels_per_class is not None and (isinstance(labels_per_class, bool) or int(labels_per_class) < 1):
            raise DatasetParamError(
                f"digits: labels_per_class must be 1 or more (or null: every sample), found {labels_per_class!r}")
        self.labels_per_class = None if labels_per_class is None else int(labels_per_class)
        self.label_seed = int(label_seed)

    def _load(self, split: str) -> tuple[Tensor, Tensor]:
        images, labels = read_digits()
        idx = split_indices(labels, self.test_fraction, self.split_seed)[split]
        if self.classes is not None:
            idx = idx[np.isin(labels[idx], self.classes)]
        if self.labels_per_class is not None and split == "train":
            rng = np.random.default_rng(self.label_seed)
            keep = [rng.permutation(idx[labels[idx] == c])[: self.labels_per_class]
                    for c in np.unique(labels[idx])]
            idx = np.sort(np.concatenate(keep)) if keep else idx[:0]
        inputs = torch.from_numpy(images[idx].astype(np.float32) / PIXEL_MAX).unsqueeze(1)
        targets = torch.from_numpy(labels[idx].astype(np.int64))
        return inputs.contiguous(), targets
