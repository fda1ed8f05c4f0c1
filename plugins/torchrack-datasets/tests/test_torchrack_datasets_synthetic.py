"""synthetic_images: seeded, shaped by its params, float32 or uint8, matching its declared specs."""

from __future__ import annotations

import pytest
import torch
from torchrack import Registry
from torchrack.contract import check_tensors
from torchrack.contracts import params_with_defaults
from torchrack_datasets import DatasetParamError


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(use_cache=False)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"channels": 1, "height": 8, "width": 5, "num_classes": 3, "train_size": 7, "test_size": 2},
        {"dtype": "uint8", "train_size": 64, "test_size": 16},
    ],
)
def test_shapes_follow_params(registry: Registry, params: dict) -> None:
    comp = registry.resolve("dataset", "synthetic_images")
    full = params_with_defaults(comp.params_schema, params)
    ds = registry.load(comp)(**full)
    assert ds.num_classes == full["num_classes"]
    for split, n in (("train", full["train_size"]), ("test", full["test_size"])):
        x, y = ds.load(split)
        assert x.shape == (n, full["channels"], full["height"], full["width"])
        assert x.dtype == (torch.uint8 if full["dtype"] == "uint8" else torch.float32)
        assert y.dtype == torch.int64 and (y.numel() == 0 or int(y.max()) < full["num_classes"])
        problems = check_tensors(comp.outputs, [x, y], params=full)
        assert not problems, problems


def test_seeded(registry: Registry) -> None:
    cls = registry.get("dataset", "synthetic_images")
    a, b, c = cls(seed=3), cls(seed=3), cls(seed=4)
    b.load("test")  # loading order does not matter
    assert torch.equal(a.load("train")[0], b.load("train")[0])
    assert torch.equal(a.load("train")[1], b.load("train")[1])
    assert not torch.equal(a.load("train")[0], c.load("train")[0])
    assert not torch.equal(a.load("train")[0][:256], a.load("test")[0])


def test_global_rng_untouched(registry: Registry) -> None:
    state = torch.get_rng_state()
    registry.get("dataset", "synthetic_images")(train_size=8).load("train")
    assert torch.equal(state, torch.get_rng_state())


def test_bad_params(registry: Registry) -> None:
    cls = registry.get("dataset", "synthetic_images")
    with pytest.raises(DatasetParamError, match="channels"):
        cls(channels=0)
    with pytest.raises(DatasetParamError, match="dtype"):
        cls(dtype="float64")
