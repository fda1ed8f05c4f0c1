"""cifar10 and mnist from small files written in their official formats (CIFAR-10's binary
records, MNIST's IDX, gzipped or not): the values, the SHA-256 pins, and the errors."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torchrack import Registry
from torchrack.contract import check_tensors
from torchrack.contracts import params_with_defaults
from torchrack_datasets import (
    DatasetFileError,
    DatasetParamError,
    FileHashError,
    ShapeMismatchError,
    sha256_file,
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(use_cache=False)


def make(registry: Registry, name: str, **params: Any) -> tuple[Any, Any, dict[str, Any]]:
    comp = registry.resolve("dataset", f"torchrack-datasets:{name}")
    full = params_with_defaults(comp.params_schema, params)
    return registry.load(comp)(**full), comp, full


# -- CIFAR-10 ---------------------------------------------------------------------------------------


def write_cifar(folder: Path, per_file: int = 3) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every file of cifar-10-batches-bin with ``per_file`` records: label byte, then the red,
    green and blue 32x32 planes. Returns file name -> (images [n, 32, 32, 3] HWC, labels)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    out = {}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        hwc = rng.integers(0, 256, size=(per_file, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_file, dtype=np.uint8)
        with open(folder / name, "wb") as fh:
            for img, label in zip(hwc, labels, strict=True):
                fh.write(bytes([int(label)]))
                for channel in range(3):  # plane by plane, each row by row
                    fh.write(img[:, :, channel].tobytes())
        out[name] = (hwc, labels)
    (folder / "batches.meta.txt").write_text("airplane\nautomobile\n")
    return out


def test_cifar10_reads_the_binary_records(registry: Registry, tmp_path: Path) -> None:
    written = write_cifar(tmp_path / "cifar-10-batches-bin")
    ds, comp, params = make(registry, "cifar10", root=str(tmp_path))  # the parent folder works too
    x, y = ds.load("train")
    assert x.shape == (15, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    hwc = np.concatenate([written[f"data_batch_{i}.bin"][0] for i in range(1, 6)])
    labels = np.concatenate([written[f"data_batch_{i}.bin"][1] for i in range(1, 6)])
    assert torch.equal(x, torch.from_numpy(hwc).permute(0, 3, 1, 2).float() / 255)
    assert y.tolist() == labels.tolist()
    x_te, y_te = ds.load("test")
    assert y_te.tolist() == written["test_batch.bin"][1].tolist()
    assert not check_tensors(comp.outputs, [x, y], params=params, who="cifar10")
    raw, _, _ = make(registry, "cifar10", root=str(tmp_path / "cifar-10-batches-bin"), dtype="uint8")
    assert torch.equal(raw.load("test")[0], torch.from_numpy(written["test_batch.bin"][0]).permute(0, 3, 1, 2))
    assert ds.num_classes == 10 and ds.classes[0] == "airplane"


def test_cifar10_sha256_pins_every_file(registry: Registry, tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar(folder)
    pins = {p.name: sha256_file(p) for p in folder.glob("*.bin")}
    make(registry, "cifar10", root=str(folder), sha256=pins)[0].load("train")
    wrong = {**pins, "test_batch.bin": "0" * 64}
    with pytest.raises(FileHashError) as info:
        make(registry, "cifar10", root=str(folder), sha256=wrong)
    message = str(info.value)
    assert str(folder / "test_batch.bin") in message and "0" * 64 in message and pins["test_batch.bin"] in message
    assert "sha256 param" in message
    partial = dict(list(pins.items())[:2])
    with pytest.raises(DatasetParamError, match="sha256 gives no hash for"):
        make(registry, "cifar10", root=str(folder), sha256=partial)
    with pytest.raises(DatasetParamError, match="'data_batch_9.bin', not files of this dataset"):
        make(registry, "cifar10", root=str(folder), sha256={**pins, "data_batch_9.bin": "1" * 64})


def test_cifar10_bad_files(registry: Registry, tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar(folder)
    (folder / "data_batch_3.bin").unlink()
    with pytest.raises(DatasetFileError, match="missing data_batch_3.bin.*binary version.*never downloads"):
        make(registry, "cifar10", root=str(folder))
    write_cifar(tmp_path / "b" / "cifar-10-batches-bin")
    short = tmp_path / "b" / "cifar-10-batches-bin" / "test_batch.bin"
    short.write_bytes(short.read_bytes()[:-5])
    ds = make(registry, "cifar10", root=str(tmp_path / "b"))[0]
    with pytest.raises(ShapeMismatchError, match="whole number of 3073-byte"):
        ds.load("test")


# -- MNIST -------------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_mnist(folder: Path, gz: bool, n_train: int = 12, n_test: int = 5) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        if gz:
            with gzip.open(folder / f"{name}.gz", "wb") as fh:
                fh.write(idx_bytes(array))
        else:
            (folder / name).write_bytes(idx_bytes(array))
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx_files(registry: Registry, tmp_path: Path, gz: bool) -> None:
    arrays = write_mnist(tmp_path, gz)
    ds, comp, params = make(registry, "mnist", root=str(tmp_path))
    x, y = ds.load("train")
    assert x.shape == (12, 1, 28, 28)
    assert torch.equal(x, torch.from_numpy(arrays["train-images-idx3-ubyte"]).unsqueeze(1).float() / 255)
    assert y.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert ds.load("test")[1].tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert not check_tensors(comp.outputs, [x, y], params=params, who="mnist")


def test_mnist_sha256_and_bad_files(registry: Registry, tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=True)
    pins = {p.name: sha256_file(p) for p in tmp_path.iterdir()}
    make(registry, "mnist", root=str(tmp_path), sha256=pins)
    with pytest.raises(FileHashError, match="t10k-labels-idx1-ubyte.gz: SHA-256 mismatch"):
        make(registry, "mnist", root=str(tmp_path), sha256={**pins, "t10k-labels-idx1-ubyte.gz": "a" * 64})
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetFileError, match=r"missing t10k-images-idx3-ubyte \(or t10k-images-idx3-ubyte.gz\)"):
        make(registry, "mnist", root=str(tmp_path))
    other = tmp_path / "other"
    arrays = write_mnist(other, gz=False)
    labels = other / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-2])
    with pytest.raises(ShapeMismatchError, match=r"declares \[12\] \(12 bytes of data\), found 10 bytes"):
        make(registry, "mnist", root=str(other))[0].load("train")
    images = other / "train-images-idx3-ubyte"
    images.write_bytes(b"\x00\x00\x0d\x03" + images.read_bytes()[4:])
    assert arrays
    with pytest.raises(ShapeMismatchError, match="not an IDX file of unsigned bytes"):
        make(registry, "mnist", root=str(other))[0].load("train")
    broken = tmp_path / "gz"
    write_mnist(broken, gz=True)
    (broken / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DatasetFileError, match="train-labels-idx1-ubyte.gz: cannot be read"):
        make(registry, "mnist", root=str(broken))[0].load("train")
