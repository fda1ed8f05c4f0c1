"""``image_folder``: a folder of class sub-folders of PNG/JPEG images, decoded with Pillow.

Layout: ``root/<class>/<...>/<image>.png|.jpg|.jpeg``. The classes are the sub-folders of ``root``
(hidden ones skipped) sorted by name, so class ``i`` is the ``i``-th name in that order; every image
under a class folder (nested folders included, hidden entries and other files skipped) belongs to
it. Images are converted to ``mode`` ("RGB" or "L") and resized to the square ``size`` (see
:mod:`torchrack_datasets._images`).

Splits: ``test_fraction`` of each class goes to ``test``, chosen by ``split_seed`` (a seeded,
stratified split of the sorted file list, as for ``digits``); with ``test_fraction`` 0 there is
only ``train``. The same folder and params always give the same split.

Streaming: ``stream(split)`` returns a :class:`~torchrack_datasets._images.ImageFiles` dataset that
decodes each image when a DataLoader worker asks for it, so a folder larger than memory trains;
``load(split)`` decodes the whole split in this process (the dry run and ``torchrack eval`` use
it). The folder's content hash is recorded by torchrack-runs as the dataset's data version (the
``root`` param is marked ``"x-data": "folder"`` in the manifest), so ``--locked`` refuses a
folder whose files changed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from torchrack_datasets._base import ArrayDataset
from torchrack_datasets._errors import DatasetFileError, DatasetParamError
from torchrack_datasets._files import split_indices
from torchrack_datasets._images import DTYPES, IMAGE_SUFFIXES, MODES, RESIZES, ImageFiles, image_files


class ImageFolder(ArrayDataset):
    """Images from class sub-folders; see the module docstring."""

    name = "image_folder"

    def __init__(
        self,
        root: str,
        size: int = 32,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        mode: str = "RGB",
        resize: str = "stretch",
        dtype: str = "float32",
    ) -> None:
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise DatasetParamError(f"image_folder: size must be an integer >= 1, found {size!r}")
        if not 0.0 <= test_fraction < 1.0:
            raise DatasetParamError(f"image_folder: test_fraction must be in [0, 1), found {test_fraction}")
        for pname, value, allowed in (("mode", mode, MODES), ("resize", resize, RESIZES),
                                      ("dtype", dtype, DTYPES)):
            if value not in allowed:
                raise DatasetParamError(
                    f"image_folder: {pname} must be one of {', '.join(map(repr, allowed))}, found {value!r}"
                )
        self.root = Path(root).expanduser()
        self.size, self.mode, self.resize, self.dtype = size, mode, resize, dtype
        self.test_fraction, self.split_seed = float(test_fraction), int(split_seed)
        self.splits = ("train", "test") if test_fraction > 0 else ("train",)
        self.classes, self.files, self.labels = scan(self.root)
        self.num_classes = len(self.classes)
        self._split = split_indices(np.asarray(self.labels), self.test_fraction, self.split_seed)

    def _indices(self, split: str) -> list[int]:
        self._check_split(split)
        if self.splits == ("train",):
            return list(range(len(self.files)))
        return [int(i) for i in self._split[split]]

    def stream(self, split: str) -> ImageFiles:
        """The ``split`` as a map-style ``torch.utils.data.Dataset`` decoding lazily."""
        idx = self._indices(split)
        return ImageFiles([self.files[i] for i in idx], [self.labels[i] for i in idx],
                          self.size, self.mode, self.resize, self.dtype)

    def _load(self, split: str) -> tuple[Tensor, Tensor]:
        return self.stream(split).load_all()


def scan(root: Path) -> tuple[list[str], list[str], list[int]]:
    """``(class names, image paths, class indices)`` of an image folder, or a
    :class:`DatasetFileError` naming the folder that is missing, empty or holds no images."""
    layout = "a folder of class sub-folders holding .png/.jpg/.jpeg files (root/<class>/<image>)"
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DatasetFileError(f"{root}: {what}; image_folder's 'root' param must be {layout}", root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        hint = (f" (it holds {len(loose)} images directly: move them into one sub-folder per class)"
                if loose else "")
        raise DatasetFileError(f"{root}: no class sub-folders{hint}; expected {layout}", root)
    files: list[str] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        found = image_files(root / name)
        if not found:
            raise DatasetFileError(
                f"{root / name}: class folder {name!r} holds no images (.png, .jpg, .jpeg); add "
                "images or remove the folder",
                root / name,
            )
        files.extend(str(p) for p in found)
        labels.extend([index] * len(found))
    return classes, files, labels
