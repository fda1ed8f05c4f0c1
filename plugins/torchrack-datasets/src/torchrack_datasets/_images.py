"""Decoding image files with Pillow into tensors, one file at a time (what ``image_folder`` and
its streaming workers share).

A decoded image is a ``[C, size, size]`` tensor: ``mode`` "RGB" (3 channels) or "L" (1), resized
to the square ``size`` with bilinear filtering, either stretched (the aspect ratio is not kept) or,
with ``resize`` "crop", scaled so that its shorter side is ``size`` and centre-cropped. ``dtype``
"float32" gives values in [0, 1], "uint8" the raw 0..255 bytes (a quarter of the memory and of what
a DataLoader worker sends back; ``normalize`` or the trainer turn it into floats on the device).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from torchrack_datasets._errors import DatasetFileError

#: File name suffixes read as images (compared in lower case).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MODES = ("RGB", "L")
RESIZES = ("stretch", "crop")
DTYPES = ("float32", "uint8")


class ImageFileError(DatasetFileError, ValueError):
    """An image file that Pillow cannot open or decode; ``path`` is the file."""


def is_image(name: str) -> bool:
    """Whether a file name is one an image folder reads: not hidden, with an image suffix."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)


def image_files(folder: Path) -> list[Path]:
    """Every image file under ``folder`` (recursively, hidden entries skipped, links to folders
    not followed), sorted by their relative path so the order is the same on every machine."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / name for name in filenames if is_image(name))
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def decode(path: str | Path, size: int, mode: str = "RGB", resize: str = "stretch",
           dtype: str = "float32") -> Tensor:
    """One image file as a ``[C, size, size]`` tensor (see the module docstring); an unreadable
    file raises :class:`ImageFileError` naming it."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            img = img.convert(mode)
            if resize == "crop":
                img = ImageOps.fit(img, (size, size), Image.Resampling.BILINEAR)
            elif img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageFileError(
            f"{path}: cannot be decoded as an image by Pillow ({type(exc).__name__}: {exc}); "
            "replace the file, or remove it from the image folder",
            path,
        ) from None
    out = torch.from_numpy(array.copy())
    out = out.unsqueeze(0) if out.dim() == 2 else out.permute(2, 0, 1).contiguous()
    if dtype == "uint8":
        return out
    return out.to(torch.float32).div_(255.0)


class ImageFiles(torch.utils.data.Dataset[tuple[Tensor, int]]):
    """A map-style dataset of image files and their class indices, decoded on each access (in
    whichever DataLoader worker asks): what ``image_folder``'s ``stream(split)`` returns.

    ``dataset[i]`` is ``(image [C, size, size], class index)``; it holds paths only, so it is
    cheap to pickle into worker processes.
    """

    def __init__(self, files: list[str], labels: list[int], size: int, mode: str = "RGB",
                 resize: str = "stretch", dtype: str = "float32") -> None:
        if len(files) != len(labels):
            raise ValueError(f"{len(files)} files but {len(labels)} labels")
        self.files, self.labels = list(files), [int(y) for y in labels]
        self.size, self.mode, self.resize, self.dtype = int(size), mode, resize, dtype

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return decode(self.files[index], self.size, self.mode, self.resize, self.dtype), self.labels[index]

    def load_all(self) -> tuple[Tensor, Tensor]:
        """Every image decoded in this process: ``(inputs [N, C, size, size], targets [N])``."""
        channels = 3 if self.mode == "RGB" else 1
        dtype = torch.uint8 if self.dtype == "uint8" else torch.float32
        inputs = torch.empty((len(self.files), channels, self.size, self.size), dtype=dtype)
        for i, path in enumerate(self.files):
            inputs[i] = decode(path, self.size, self.mode, self.resize, self.dtype)
        return inputs, torch.tensor(self.labels, dtype=torch.int64)
