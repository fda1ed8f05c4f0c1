"""tensor_file: .npz and .pt files, the hash, key and shape checks, and pickles refused."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torchrack import Registry, TorchrackError
from torchrack.contract import check_tensors
from torchrack.contracts import params_with_defaults
from torchrack_datasets import (
    DatasetFileError,
    FileHashError,
    MissingKeyError,
    ShapeMismatchError,
    UnsafeFileError,
    sha256_file,
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(use_cache=False)


@pytest.fixture()
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(40, 3, 4, 5), dtype=np.uint8)
    y = np.repeat(np.arange(4), 10).astype(np.int32)
    return x, y


@pytest.fixture(params=["npz", "pt"])
def file(request: pytest.FixtureRequest, tmp_path: Path, data) -> Path:
    x, y = data
    if request.param == "npz":
        path = tmp_path / "data.npz"
        np.savez(path, images=x, labels=y)
    else:
        path = tmp_path / "data.pt"
        torch.save({"images": torch.from_numpy(x), "labels": torch.from_numpy(y)}, path)
    return path


def build(registry: Registry, **params: object):
    comp = registry.resolve("dataset", "tensor_file")
    full = params_with_defaults(comp.params_schema, params)
    return comp, full, registry.load(comp)(**full)


def test_loads_and_splits(registry: Registry, file: Path, data) -> None:
    comp, params, ds = build(
        registry, path=str(file), inputs_key="images", targets_key="labels",
        sha256=sha256_file(file), input_shape=[3, 4, 5],
    )
    assert ds.splits == ("train", "test") and ds.num_classes == 4
    x_tr, y_tr = ds.load("train")
    x_te, y_te = ds.load("test")
    assert (x_tr.shape[0], x_te.shape[0]) == (32, 8)
    assert y_te.bincount().tolist() == [2, 2, 2, 2]
    assert x_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    x, y = data
    assert sorted(map(tuple, torch.cat([x_tr, x_te]).reshape(40, -1).tolist())) == sorted(
        map(tuple, x.reshape(40, -1).astype(np.float32).tolist())
    )
    for split in ds.splits:
        problems = check_tensors(comp.outputs, ds.load(split), params=params)
        assert not problems, problems
    again = build(registry, path=str(file), inputs_key="images", targets_key="labels")[2]
    assert torch.equal(again.load("test")[0], x_te)


def test_no_test_split(registry: Registry, file: Path) -> None:
    ds = build(registry, path=str(file), inputs_key="images", targets_key="labels",
               test_fraction=0.0)[2]
    assert ds.splits == ("train",)
    assert ds.load("train")[0].shape == (40, 3, 4, 5)


def test_three_dim_inputs_get_a_channel(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "gray.npz"
    np.savez(path, inputs=np.zeros((10, 6, 6), np.float64), targets=np.arange(10) % 2)
    x, _ = build(registry, path=str(path), test_fraction=0.0)[2].load("train")
    assert x.shape == (10, 1, 6, 6) and x.dtype == torch.float32


def test_wrong_hash(registry: Registry, file: Path) -> None:
    wrong = "0" * 64
    ds = build(registry, path=str(file), inputs_key="images", targets_key="labels", sha256=wrong)[2]
    with pytest.raises(FileHashError) as info:
        ds.load("train")
    msg = str(info.value)
    assert str(file) in msg and wrong in msg and sha256_file(file) in msg
    assert isinstance(info.value, TorchrackError)


def test_missing_key(registry: Registry, file: Path) -> None:
    ds = build(registry, path=str(file), inputs_key="x", targets_key="labels")[2]
    with pytest.raises(MissingKeyError) as info:
        ds.load("train")
    msg = str(info.value)
    assert str(file) in msg and "'x'" in msg and "inputs_key" in msg
    assert "'images'" in msg and "'labels'" in msg


def test_shape_mismatch(registry: Registry, file: Path) -> None:
    ds = build(registry, path=str(file), inputs_key="images", targets_key="labels",
               input_shape=[1, 4, 5])[2]
    with pytest.raises(ShapeMismatchError) as info:
        ds.load("train")
    msg = str(info.value)
    assert str(file) in msg and "[1, 4, 5]" in msg and "[3, 4, 5]" in msg


def test_targets_length_mismatch(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "short.npz"
    np.savez(path, inputs=np.zeros((10, 1, 2, 2)), targets=np.zeros(9, np.int64))
    with pytest.raises(ShapeMismatchError, match=r"expected shape \[10\].*found \[9\]"):
        build(registry, path=str(path))[2].load("train")


def test_float_targets_refused(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "floaty.npz"
    np.savez(path, inputs=np.zeros((10, 1, 2, 2)), targets=np.zeros(10))
    with pytest.raises(ShapeMismatchError, match="integer class indices.*float64"):
        build(registry, path=str(path))[2].load("train")


class Payload:
    def __reduce__(self):  # would run code when unpickled without weights_only
        return (print, ("unpickled!",))


def test_pickled_pt_refused(registry: Registry, tmp_path: Path, capsys) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"inputs": torch.zeros(2, 1, 2, 2), "targets": Payload()}, path)
    with pytest.raises(UnsafeFileError, match="weights_only") as info:
        build(registry, path=str(path))[2].load("train")
    assert str(path) in str(info.value)
    assert "unpickled!" not in capsys.readouterr().out


def test_pickled_npz_refused(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    objects = np.empty(2, dtype=object)
    objects[:] = [Payload(), Payload()]
    np.savez(path, inputs=np.zeros((2, 1, 2, 2)), targets=objects)
    with pytest.raises(UnsafeFileError, match="pickled") as info:
        build(registry, path=str(path))[2].load("train")
    assert str(path) in str(info.value)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_raw_pickle_with_pt_suffix_refused(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "raw.pt"
    path.write_bytes(pickle.dumps({"inputs": Payload()}))
    with pytest.raises(DatasetFileError):
        build(registry, path=str(path))[2].load("train")


def test_missing_file_and_bad_suffix(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(DatasetFileError, match="no such file"):
        build(registry, path=str(tmp_path / "nope.npz"))[2].load("train")
    csv = tmp_path / "data.csv"
    csv.write_text("1,2\n")
    with pytest.raises(DatasetFileError, match=r"unsupported file type '\.csv'"):
        build(registry, path=str(csv))[2].load("train")
