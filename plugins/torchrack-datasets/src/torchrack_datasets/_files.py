"""File helpers shared by the datasets: hashing, safe loading, seeded splits."""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchrack_datasets._errors import DatasetFileError, FileHashError, UnsafeFileError


def sha256_file(path: str | Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str, fix: str) -> None:
    """Raise :class:`FileHashError` naming ``path`` when its SHA-256 is not ``expected``."""
    found = sha256_file(path)
    if found != expected.lower():
        raise FileHashError(path, expected.lower(), found, fix)


def load_arrays(path: str | Path) -> dict[str, Any]:
    """Read a ``.npz`` (numpy arrays) or ``.pt``/``.pth`` (tensors) file without unpickling objects.

    ``.npz`` is read with ``allow_pickle=False`` and ``.pt`` with ``weights_only=True``: a file that
    holds pickled objects raises :class:`UnsafeFileError`. Returns name -> array or tensor.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetFileError(f"{path}: no such file; check the dataset's 'path' param", path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        except ValueError as exc:  # numpy: "Object arrays cannot be loaded when allow_pickle=False"
            raise UnsafeFileError(
                f"{path}: holds pickled object arrays, which are refused (expected plain numeric "
                f"arrays); save the data with numeric dtypes ({exc})",
                path,
            ) from exc
        except (OSError, zipfile.BadZipFile) as exc:
            raise DatasetFileError(f"{path}: not a readable .npz archive: {exc}", path) from exc
    if suffix in (".pt", ".pth"):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise UnsafeFileError(
                f"{path}: refused by torch.load(weights_only=True): the file holds objects other "
                "than tensors and plain containers; save a dict of tensors instead "
                f"(torch.save({{'inputs': x, 'targets': y}}, path)); cause: "
                f"{str(exc).splitlines()[0]}",
                path,
            ) from exc
        except (RuntimeError, OSError, EOFError) as exc:
            raise DatasetFileError(f"{path}: not a readable torch file: {exc}", path) from exc
        if not isinstance(obj, Mapping):
            raise DatasetFileError(
                f"{path}: expected a dict of tensors, found {type(obj).__name__}; save a dict "
                "such as {'inputs': x, 'targets': y}",
                path,
            )
        return {str(k): v for k, v in obj.items()}
    raise DatasetFileError(
        f"{path}: unsupported file type {suffix or '(none)'!r}; expected .npz, .pt or .pth", path
    )


def split_indices(
    labels: np.ndarray, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """A seeded, stratified train/test split: per class, ``round(n * test_fraction)`` go to test.

    Deterministic for a given ``labels``, ``test_fraction`` and ``seed`` (numpy PCG64); indices in
    each split are sorted so the split keeps the file's order.
    """
    rng = np.random.default_rng(seed)
    test: list[np.ndarray] = []
    train: list[np.ndarray] = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    empty = np.empty(0, dtype=np.int64)
    return {
        "train": np.sort(np.concatenate(train)) if train else empty,
        "test": np.sort(np.concatenate(test)) if test else empty,
    }


def verify_pinned(who: str, files: Mapping[str, Path], sha256: Mapping[str, str] | None) -> None:
    """Check each of ``files`` (name -> path) against ``sha256`` (name -> hex digest), when given.

    The mapping must pin every file that will be read, and only those: a name it lacks or a name
    that is not one of ``files`` is a :class:`DatasetParamError`; a file whose hash differs raises
    :class:`FileHashError` naming it, the expected and the found hash.
    """
    if sha256 is None:
        return
    from torchrack_datasets._errors import DatasetParamError

    unknown = sorted(set(sha256) - set(files))
    if unknown:
        raise DatasetParamError(
            f"{who}: sha256 names {', '.join(map(repr, unknown))}, not files of this dataset; "
            f"expected keys among: {', '.join(sorted(files))}"
        )
    missing = [name for name in files if name not in sha256]
    if missing:
        raise DatasetParamError(
            f"{who}: sha256 gives no hash for {', '.join(map(repr, missing))}; pin every file read "
            f"({', '.join(files)}), or leave sha256 out (torchrack_datasets.sha256_file(path) gives one)"
        )
    for name, path in files.items():
        verify_sha256(path, sha256[name], f"the file is not the one pinned by {who}'s sha256 param: "
                      "replace it with the original, or update the param")
