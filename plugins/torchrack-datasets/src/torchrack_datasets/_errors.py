"""Errors of torchrack-datasets; each keeps the offending file and says what was expected and found."""

from __future__ import annotations

from pathlib import Path

from torchrack import TorchrackError


class DatasetFileError(TorchrackError):
    """A data file that cannot be used: the base of the errors below. ``path`` is the file."""

    def __init__(self, message: str, path: str | Path) -> None:
        super().__init__(message)
        self.path = Path(path)


class FileHashError(DatasetFileError, ValueError):
    """A file whose SHA-256 differs from the expected one."""

    def __init__(self, path: str | Path, expected: str, found: str, fix: str) -> None:
        super().__init__(
            f"{path}: SHA-256 mismatch: expected {expected}, found {found}; {fix}", path
        )
        self.expected = expected
        self.found = found


class MissingKeyError(DatasetFileError, KeyError):
    """A tensor file without a key the dataset was told to read."""

    def __init__(self, path: str | Path, key: str, param: str, available: list[str]) -> None:
        super().__init__(
            f"{path}: expected an array named {key!r} (param {param!r}), found keys: "
            f"{', '.join(repr(k) for k in available) or 'none'}; set {param} to one of them",
            path,
        )
        self.key = key
        self.available = available

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


class ShapeMismatchError(DatasetFileError, ValueError):
    """Arrays whose shape or dtype differs from what the dataset expects."""


class UnsafeFileError(DatasetFileError, ValueError):
    """A file that holds pickled objects, which are refused (they could run arbitrary code)."""


class DatasetParamError(TorchrackError, ValueError):
    """A dataset param outside its allowed range (the manifest's params schema says which)."""
