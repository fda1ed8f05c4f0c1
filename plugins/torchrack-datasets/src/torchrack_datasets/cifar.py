"""``cifar10``: CIFAR-10 from a local copy of its official *binary* version, never downloaded.

``root`` is the ``cifar-10-batches-bin`` folder of ``cifar-10-binary.tar.gz`` (or the folder that
holds it): ``data_batch_1.bin`` .. ``data_batch_5.bin`` (the 50,000 ``train`` images) and
``test_batch.bin`` (the 10,000 ``test`` images). Each record is 3,073 bytes: the label (0..9), then
the 32x32 red, green and blue planes, row by row (Krizhevsky 2009). The python version of the data
set (pickled batches) is not read: unpickling a file can run arbitrary code.

An optional ``sha256`` (file name -> hex digest) pins every file read; a file that differs raises
:class:`~torchrack_datasets.FileHashError` naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from torchrack_datasets._base import ArrayDataset
from torchrack_datasets._errors import DatasetFileError, DatasetParamError, ShapeMismatchError
from torchrack_datasets._files import verify_pinned

FOLDER = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
RECORD = 1 + 3 * 32 * 32
NUM_CLASSES = 10
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch file: ``(images uint8 [n, 3, 32, 32], labels uint8 [n])``."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD:
        raise ShapeMismatchError(
            f"{path}: {raw.size} bytes, expected a whole number of {RECORD}-byte CIFAR-10 records "
            "(1 label byte + 3072 pixel bytes); is this a file of the binary version "
            f"({FOLDER})?",
            path,
        )
    records = raw.reshape(-1, RECORD)
    labels = records[:, 0]
    if int(labels.max()) >= NUM_CLASSES:
        bad = int(np.flatnonzero(labels >= NUM_CLASSES)[0])
        raise ShapeMismatchError(
            f"{path}: record {bad} has label {int(labels[bad])}, expected 0..9 (a CIFAR-100 file?)",
            path,
        )
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


class CIFAR10(ArrayDataset):
    """CIFAR-10's official ``train`` and ``test`` splits from local binary files."""

    name = "cifar10"
    classes = CLASSES

    def __init__(self, root: str, sha256: dict[str, str] | None = None, dtype: str = "float32") -> None:
        super().__init__()
        if dtype not in ("float32", "uint8"):
            raise DatasetParamError(f"cifar10: dtype must be 'float32' or 'uint8', found {dtype!r}")
        given = Path(root).expanduser()
        self.root = given / FOLDER if (given / FOLDER).is_dir() else given
        self.sha256 = None if sha256 is None else {str(k): str(v) for k, v in sha256.items()}
        self.dtype = dtype
        self.num_classes = NUM_CLASSES
        files = {name: self.root / name for name in (*TRAIN_FILES, *TEST_FILES)}
        missing = [name for name, path in files.items() if not path.is_file()]
        if missing:
            raise DatasetFileError(
                f"{self.root}: missing {', '.join(missing)}; cifar10's 'root' must be the "
                f"'{FOLDER}' folder of the binary version (cifar-10-binary.tar.gz, unpacked), "
                "which torchrack never downloads",
                self.root / missing[0],
            )
        verify_pinned("cifar10", files, self.sha256)
        self._files = files

    def _load(self, split: str) -> tuple[Tensor, Tensor]:
        names = TRAIN_FILES if split == "train" else TEST_FILES
        parts = [read_batch(self._files[name]) for name in names]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        inputs = torch.from_numpy(np.ascontiguousarray(images))
        if self.dtype == "float32":
            inputs = inputs.to(torch.float32).div_(255.0)
        return inputs, torch.from_numpy(labels.astype(np.int64))
