"""digits: the shipped file, its hash check, the seeded split, and the declared output specs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torchrack import Registry, TorchrackError
from torchrack.contract import check_tensors
from torchrack.contracts import params_with_defaults
from torchrack_datasets import FileHashError, UnknownSplitError, sha256_file
from torchrack_datasets import digits as digits_mod


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(use_cache=False)


def build(registry: Registry, **params: object):
    comp = registry.resolve("dataset", "torchrack-datasets:digits")
    full = params_with_defaults(comp.params_schema, params)
    return comp, full, registry.load(comp)(**full)


def test_shipped_file_matches_manifest_hash() -> None:
    record = digits_mod.manifest_data()["digits.npz"]
    assert sha256_file(digits_mod.data_path()) == record["sha256"]
    assert record["licence"] == "CC BY 4.0"
    assert "UCI" in record["source"]


def test_counts_shapes_classes(registry: Registry) -> None:
    comp, params, ds = build(registry)
    assert ds.splits == ("train", "test")
    assert ds.num_classes == 10
    x_tr, y_tr = ds.load("train")
    x_te, y_te = ds.load("test")
    assert x_tr.shape[0] + x_te.shape[0] == 1797
    assert x_tr.shape[1:] == (1, 8, 8) and x_tr.dtype == torch.float32
    assert y_tr.dtype == torch.int64
    assert float(x_tr.min()) == 0.0 and float(x_tr.max()) == 1.0
    assert sorted(torch.cat([y_tr, y_te]).unique().tolist()) == list(range(10))
    # Stratified: every class holds round(n_c * 0.2) test samples.
    full = torch.cat([y_tr, y_te]).bincount()
    assert y_te.bincount(minlength=10).tolist() == [round(int(n) * 0.2) for n in full]
    for split in ds.splits:
        problems = check_tensors(comp.outputs, ds.load(split), params=params, who="digits")
        assert not problems, problems


def test_known_first_sample() -> None:
    images, labels = digits_mod.read_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert labels[:10].tolist() == list(range(10))
    assert images[0, 0].tolist() == [0, 0, 5, 13, 9, 1, 0, 0]
    assert int(images.max()) == 16


def test_split_deterministic_and_disjoint(registry: Registry) -> None:
    a = build(registry)[2]
    b = build(registry)[2]
    for split in ("train", "test"):
        assert torch.equal(a.load(split)[0], b.load(split)[0])
        assert torch.equal(a.load(split)[1], b.load(split)[1])
    c = build(registry, split_seed=1)[2]
    assert not torch.equal(a.load("test")[0], c.load("test")[0])
    # Train and test are disjoint and together cover the file.
    images, _ = digits_mod.read_digits()
    flat = torch.from_numpy(images.reshape(1797, -1).astype(np.float32) / 16)
    tr = a.load("train")[0].reshape(-1, 64)
    te = a.load("test")[0].reshape(-1, 64)
    assert tr.shape[0] + te.shape[0] == flat.shape[0]
    assert torch.equal(torch.cat([tr, te]).sort(0).values, flat.sort(0).values)


def test_load_returns_fresh_tensors(registry: Registry) -> None:
    ds = build(registry)[2]
    x, _ = ds.load("train")
    x.zero_()
    assert float(ds.load("train")[0].sum()) > 0


def test_unknown_split(registry: Registry) -> None:
    ds = build(registry)[2]
    with pytest.raises(UnknownSplitError, match="'valid'.*train, test"):
        ds.load("valid")


def test_tampered_copy_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "digits.npz"
    shutil.copyfile(digits_mod.data_path(), copy)
    digits_mod.read_digits(copy)  # an intact copy is accepted
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(FileHashError) as info:
        digits_mod.read_digits(copy)
    err = info.value
    assert isinstance(err, TorchrackError)
    assert str(copy) in str(err) and "SHA-256 mismatch" in str(err)
    assert err.expected == digits_mod.manifest_data()["digits.npz"]["sha256"]
    assert err.found == sha256_file(copy)


def test_loader_verifies_the_file_it_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "digits.npz"
    bad.write_bytes(b"not the digits")
    monkeypatch.setattr(digits_mod, "data_path", lambda: bad)
    with pytest.raises(FileHashError, match="digits.npz"):
        digits_mod.Digits().load("train")
