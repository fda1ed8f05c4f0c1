"""torchrack-datasets: the ``digits``, ``synthetic_images``, ``tensor_file``, ``image_folder``,
``cifar10`` and ``mnist`` datasets."""

from __future__ import annotations

from torchrack_datasets._base import UnknownSplitError
from torchrack_datasets._errors import (
    DatasetFileError,
    DatasetParamError,
    FileHashError,
    MissingKeyError,
    ShapeMismatchError,
    UnsafeFileError,
)
from torchrack_datasets._files import sha256_file
from torchrack_datasets._images import ImageFileError, ImageFiles

__all__ = [
    "DatasetFileError",
    "DatasetParamError",
    "FileHashError",
    "ImageFileError",
    "ImageFiles",
    "MissingKeyError",
    "ShapeMismatchError",
    "UnknownSplitError",
    "UnsafeFileError",
    "sha256_file",
]
