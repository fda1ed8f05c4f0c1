"""``mnist``: MNIST from local files in their official IDX format (gzipped or not), never downloaded.

``root`` holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte`` (60,000 ``train`` images),
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (10,000 ``test`` images), each possibly
with a ``.gz`` suffix, as LeCun et al. distribute them. An IDX file is a big-endian header (two
zero bytes, the type code ``0x08`` for unsigned bytes, the number of dimensions, then each
dimension as a 32-bit integer) followed by the data. Inputs are ``[N, 1, 28, 28]``.

An optional ``sha256`` (file name as found on disk -> hex digest) pins every file read.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from torchrack_datasets._base import ArrayDataset
from torchrack_datasets._errors import DatasetFileError, DatasetParamError, ShapeMismatchError
from torchrack_datasets._files import verify_pinned

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
NUM_CLASSES = 10
#: The largest IDX payload read (bytes): MNIST's train images are 47 MB.
MAX_BYTES = 1 << 30


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes with ``ndim`` dimensions, as a uint8 array."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            header = fh.read(4)
            if len(header) < 4 or header[:3] != b"\x00\x00\x08" or header[3] != ndim:
                raise ShapeMismatchError(
                    f"{path}: not an IDX file of unsigned bytes with {ndim} dimension(s) (its first "
                    f"bytes are {header.hex() or 'missing'}, expected 000008{ndim:02x})",
                    path,
                )
            dims = np.frombuffer(fh.read(4 * ndim), dtype=">u4")
            if dims.size != ndim:
                raise ShapeMismatchError(f"{path}: the IDX header ends early", path)
            shape = tuple(int(d) for d in dims)
            count = int(np.prod(shape, dtype=np.int64))
            if count > MAX_BYTES:
                raise ShapeMismatchError(f"{path}: declares {shape}, larger than {MAX_BYTES} bytes", path)
            data = fh.read(count + 1)
    except (OSError, EOFError, zlib.error) as exc:  # a damaged .gz, an unreadable file
        raise DatasetFileError(f"{path}: cannot be read: {exc}", path) from None
    if len(data) != count:
        raise ShapeMismatchError(
            f"{path}: the header declares {list(shape)} ({count} bytes of data), found "
            f"{'more' if len(data) > count else len(data)} bytes",
            path,
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


class MNIST(ArrayDataset):
    """MNIST's official ``train`` and ``test`` splits from local IDX files."""

    name = "mnist"

    def __init__(self, root: str, sha256: dict[str, str] | None = None, dtype: str = "float32") -> None:
        super().__init__()
        if dtype not in ("float32", "uint8"):
            raise DatasetParamError(f"mnist: dtype must be 'float32' or 'uint8', found {dtype!r}")
        self.root = Path(root).expanduser()
        self.dtype = dtype
        self.num_classes = NUM_CLASSES
        if not self.root.is_dir():
            raise DatasetFileError(
                f"{self.root}: {'is not a folder' if self.root.exists() else 'does not exist'}; "
                "mnist's 'root' must be a folder holding the four IDX files", self.root)
        self._files: dict[str, Path] = {}
        for base in (name for pair in FILES.values() for name in pair):
            found = next((self.root / n for n in (base, base + ".gz") if (self.root / n).is_file()), None)
            if found is None:
                raise DatasetFileError(
                    f"{self.root}: missing {base} (or {base}.gz); mnist's 'root' must hold "
                    f"{', '.join(n for pair in FILES.values() for n in pair)} (gzipped or not), "
                    "which torchrack never downloads",
                    self.root / base,
                )
            self._files[base] = found
        verify_pinned("mnist", {p.name: p for p in self._files.values()},
                      None if sha256 is None else {str(k): str(v) for k, v in sha256.items()})

    def _load(self, split: str) -> tuple[Tensor, Tensor]:
        images_name, labels_name = FILES[split]
        images = read_idx(self._files[images_name], 3)
        labels = read_idx(self._files[labels_name], 1)
        if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
            raise ShapeMismatchError(
                f"{self._files[images_name]}: images {list(images.shape)} with "
                f"{labels.shape[0]} labels in {self._files[labels_name].name}; expected [N, 28, 28] "
                "and N labels",
                self._files[images_name],
            )
        if labels.size and int(labels.max()) >= NUM_CLASSES:
            raise ShapeMismatchError(
                f"{self._files[labels_name]}: a label is {int(labels.max())}, expected 0..9",
                self._files[labels_name],
            )
        inputs = torch.from_numpy(images.copy()).unsqueeze(1)
        if self.dtype == "float32":
            inputs = inputs.to(torch.float32).div_(255.0)
        return inputs, torch.from_numpy(labels.astype(np.int64))
