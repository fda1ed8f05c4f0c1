"""torchrack-datasets: the ``digits``, ``synthetic_images`` and ``tensor_file`` datasets."""

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

__all__ = [
    "DatasetFileError",
    "DatasetParamError",
    "FileHashError",
    "MissingKeyError",
    "ShapeMismatchError",
    "UnknownSplitError",
    "UnsafeFileError",
    "sha256_file",
]
