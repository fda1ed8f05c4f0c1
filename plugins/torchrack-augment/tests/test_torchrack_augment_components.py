"""Every registered augmentation, resolved through the registry so manifest and code are checked
together: declared tensor specs (CPU and meta), determinism, no in-place change, dtype kept, the
global RNG untouched, and the behaviour of each component at its extremes."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as tnf
from torchrack import Registry
from torchrack.contract import check_tensors
from torchrack.contracts import params_with_defaults, validate_params
from torchrack_augment import AugmentationInputError, AugmentationParamError

DIST = "torchrack-augment"
NAMES = [
    "hflip", "vflip", "random_crop", "random_translate", "normalize", "cutout",
    "brightness_contrast", "mixup", "cutmix", "resize", "center_crop", "random_resized_crop",
]
# Params for a [N, 3, 12, 10] batch with 5 classes (defaults otherwise).
PARAMS: dict[str, dict[str, Any]] = {
    "random_crop": {"size": 8, "padding": 2},
    "random_translate": {"max_shift": 2},
    "normalize": {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.3, 0.4]},
    "cutout": {"size": 4},
    "mixup": {"num_classes": 5},
    "cutmix": {"num_classes": 5},
    "resize": {"size": 7},
    "center_crop": {"size": 6},
    "random_resized_crop": {"size": 9},
}
#: Augmentations that draw nothing (no seed param, the same output whatever the generator).
DRAWLESS = ("normalize", "resize", "center_crop")
RANDOM = [n for n in NAMES if n not in DRAWLESS]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(use_cache=False)


def build(registry: Registry, name: str, **overrides: Any) -> tuple[Any, dict[str, Any], Any]:
    comp = registry.resolve("augmentation", f"{DIST}:{name}")
    params = params_with_defaults(comp.params_schema, {**PARAMS.get(name, {}), **overrides})
    assert not validate_params(comp.params_schema, params)
    return comp, params, registry.load(comp)(**params)


def batch(dtype: torch.dtype = torch.float32, device: str = "cpu", n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(123)
    x = torch.rand(n, 3, 12, 10, generator=gen)
    x = (x * 255).round().to(torch.uint8) if dtype == torch.uint8 else x.to(dtype)
    y = torch.randint(0, 5, (n,), generator=gen)
    return x.to(device), y.to(device)


def test_all_registered(registry: Registry) -> None:
    names = {c.name for c in registry.components("augmentation") if c.dist == DIST}
    assert names == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.uint8])
def test_contract(registry: Registry, name: str, device: str, dtype: torch.dtype) -> None:
    comp, params, aug = build(registry, name, seed=0) if name not in DRAWLESS else build(registry, name)
    x, y = batch(dtype, device)
    x_before, y_before = x.clone(), y.clone()
    bindings: dict[str, int] = {}
    assert not check_tensors(comp.inputs, [x, y], params=params, bindings=bindings, who=name)
    out_x, out_y = aug(x, y)
    problems = check_tensors(comp.outputs, [out_x, out_y], params=params, bindings=bindings, who=name)
    assert not problems, problems
    assert out_x.device == x.device
    expected_dtype = dtype if name != "normalize" or dtype != torch.uint8 else torch.float32
    assert out_x.dtype == expected_dtype
    if device == "cpu":
        assert torch.equal(x, x_before) and torch.equal(y, y_before)  # nothing changed in place
        assert out_x.data_ptr() != x.data_ptr()


@pytest.mark.parametrize("name", RANDOM)
def test_seeded_and_deterministic(registry: Registry, name: str) -> None:
    x, y = batch(n=32)
    state = torch.get_rng_state()
    a = build(registry, name, seed=7)[2](x, y)
    b = build(registry, name, seed=7)[2](x, y)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    # A passed generator decides, whatever the seed param.
    c = build(registry, name, seed=1)[2](x, y, generator=torch.Generator().manual_seed(5))
    d = build(registry, name, seed=2)[2](x, y, generator=torch.Generator().manual_seed(5))
    assert torch.equal(c[0], d[0]) and torch.equal(c[1], d[1])
    # The own generator advances: a second call draws new params.
    aug = build(registry, name, seed=7)[2]
    first, second = aug(x, y)[0], aug(x, y)[0]
    assert not torch.equal(first, second)
    assert torch.equal(state, torch.get_rng_state()), "the global RNG was used"


def test_unseeded_instances_differ(registry: Registry) -> None:
    x, y = batch(n=64)
    a = build(registry, "random_crop")[2](x, y)[0]
    b = build(registry, "random_crop")[2](x, y)[0]
    assert not torch.equal(a, b)


@pytest.mark.parametrize("name,flip", [("hflip", -1), ("vflip", -2)])
def test_flips_p1_p0(registry: Registry, name: str, flip: int) -> None:
    x, y = batch()
    assert torch.equal(build(registry, name, p=1.0)[2](x, y)[0], x.flip(flip))
    assert torch.equal(build(registry, name, p=0.0)[2](x, y)[0], x)
    out = build(registry, name, p=0.5, seed=0)[2](*batch(n=200))[0]
    xs = batch(n=200)[0]
    flipped = (out == xs.flip(flip)).flatten(1).all(1)
    kept = (out == xs).flatten(1).all(1)
    assert bool((flipped | kept).all()) and 60 < int(flipped.sum()) < 140


def _offsets(out: torch.Tensor, x: torch.Tensor, pad: int, mode: str) -> list[tuple[int, int]]:
    """Per sample, the window of the padded input equal to the output (the per-sample reference)."""
    h, w = out.shape[-2:]
    found = []
    for n in range(x.shape[0]):
        padded = tnf.pad(x[n : n + 1], (pad,) * 4, mode="constant" if mode == "zeros" else mode)[0]
        hits = [
            (i, j)
            for i in range(padded.shape[1] - h + 1)
            for j in range(padded.shape[2] - w + 1)
            if torch.equal(padded[:, i : i + h, j : j + w], out[n])
        ]
        assert hits, f"sample {n} is no window of its padded input"
        found.append(hits[0])
    return found


@pytest.mark.parametrize("mode", ["zeros", "reflect"])
def test_random_crop_windows(registry: Registry, mode: str) -> None:
    x, y = batch(n=40)
    out = build(registry, "random_crop", padding_mode=mode, seed=3)[2](x, y)[0]
    assert out.shape == (40, 3, 8, 8)
    offsets = _offsets(out, x, 2, mode)
    assert len(set(offsets)) > 10  # offsets vary per sample


def test_random_translate_is_a_shift(registry: Registry) -> None:
    x, y = batch(n=30)
    out = build(registry, "random_translate", seed=0)[2](x, y)[0]
    assert out.shape == x.shape
    # A zero-filled shift by (dy, dx) is the window at (2 - dy, 2 - dx) of the input padded by 2.
    _offsets(out, x, 2, "zeros")


def test_normalize_values(registry: Registry) -> None:
    x, y = batch()
    out = build(registry, "normalize")[2](x, y)[0]
    mean = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)
    std = torch.tensor([0.2, 0.3, 0.4]).view(1, 3, 1, 1)
    torch.testing.assert_close(out, (x - mean) / std)


def test_cutout_boxes(registry: Registry) -> None:
    x = torch.ones(50, 1, 12, 10)
    y = torch.zeros(50, dtype=torch.long)
    out = build(registry, "cutout", size=4, value=0.0, seed=0)[2](x, y)[0]
    zeros = (out == 0).flatten(1).sum(1)
    assert bool((zeros >= 4).all()) and bool((zeros <= 16).all()) and int((zeros == 16).sum()) > 10
    assert torch.equal(build(registry, "cutout", p=0.0)[2](x, y)[0], x)


def test_brightness_contrast_identity_and_range(registry: Registry) -> None:
    x, y = batch()
    assert torch.equal(build(registry, "brightness_contrast", brightness=0.0, contrast=0.0)[2](x, y)[0], x)
    out = build(registry, "brightness_contrast", brightness=1.0, contrast=1.0, seed=0)[2](x, y)[0]
    assert float(out.min()) >= 0 and float(out.max()) <= 1


@pytest.mark.parametrize("name", ["mixup", "cutmix"])
def test_mixing_soft_targets(registry: Registry, name: str) -> None:
    x, y = batch(n=16)
    aug = build(registry, name, seed=0)[2]
    out_x, out_y = aug(x, y)
    assert out_y.shape == (16, 5) and out_y.dtype == torch.float32
    torch.testing.assert_close(out_y.sum(1), torch.ones(16))
    # Soft targets in, soft targets out (a second mixing stage).
    out2 = aug(out_x, out_y)[1]
    torch.testing.assert_close(out2.sum(1), torch.ones(16))
    with pytest.raises(AugmentationInputError, match=r"\[N, 5\]"):
        aug(x, torch.rand(16, 4))


def test_mixup_is_a_convex_blend(registry: Registry) -> None:
    x, y = batch(n=16)
    out_x, out_y = build(registry, "mixup", seed=4)[2](x, y)
    onehot = tnf.one_hot(y, 5).float()
    lams = []
    # Each mixed image is lam * x[n] + (1 - lam) * x[m] for one partner m (m == n: unchanged),
    # with one lam for the whole batch, and its target mixes the same way.
    for n in range(16):
        if torch.allclose(out_x[n], x[n], atol=1e-6):
            continue
        for m in range(16):
            d = (x[n] - x[m]).flatten()
            if m == n or float(d @ d) == 0:
                continue
            lam = float((out_x[n] - x[m]).flatten() @ d / (d @ d))
            if torch.allclose(out_x[n], lam * x[n] + (1 - lam) * x[m], atol=1e-5):
                lams.append(lam)
                torch.testing.assert_close(out_y[n], lam * onehot[n] + (1 - lam) * onehot[m])
                break
        else:
            raise AssertionError(f"sample {n} is no blend of two inputs")
    assert len(lams) >= 8 and max(lams) - min(lams) < 1e-4


def test_cutmix_area_matches_targets(registry: Registry) -> None:
    x = torch.zeros(8, 1, 12, 10)
    x += torch.arange(8).view(8, 1, 1, 1)  # each sample one constant value
    y = torch.arange(8) % 5
    out_x, out_y = build(registry, "cutmix", seed=11)[2](x, y)
    for n in range(8):
        own = float((out_x[n] == n).float().mean())
        assert math.isclose(own, float(out_y[n, int(y[n])]), abs_tol=1e-6) or own == 1.0


def test_generator_on_the_batch_device_is_used(registry: Registry) -> None:
    x, y = batch(n=8)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = build(registry, "hflip")[2](x, y, generator=gen)[0]
    b = build(registry, "hflip")[2](x, y, generator=torch.Generator().manual_seed(0))[0]
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "name,params,match",
    [
        ("hflip", {"p": 1.5}, "p must be in"),
        ("random_crop", {"padding_mode": "edge"}, "padding_mode"),
        ("random_crop", {"size": 0}, "size"),
        ("normalize", {"std": [0.0]}, "std"),
        ("mixup", {"alpha": 0.0}, "alpha"),
        ("cutmix", {"num_classes": 0}, "num_classes"),
        ("brightness_contrast", {"brightness": 2.0}, "brightness"),
    ],
)
def test_bad_params(registry: Registry, name: str, params: dict[str, Any], match: str) -> None:
    cls = registry.get("augmentation", f"{DIST}:{name}")
    with pytest.raises(AugmentationParamError, match=match):
        cls(**params)


def test_bad_inputs(registry: Registry) -> None:
    crop = build(registry, "random_crop", size=40)[2]
    x, y = batch()
    with pytest.raises(AugmentationInputError, match="larger than the padded image"):
        crop(x, y)
    with pytest.raises(AugmentationInputError, match=r"\[N, C, H, W\]"):
        build(registry, "hflip")[2](x[0], y)
    with pytest.raises(AugmentationInputError, match="int64"):
        build(registry, "hflip")[2](x.long(), y)
    with pytest.raises(AugmentationInputError, match="one row per input"):
        build(registry, "hflip")[2](x, y[:2])
    with pytest.raises(AugmentationInputError, match="mean has 2 values"):
        build(registry, "normalize", mean=[0.1, 0.2], std=[1.0])[2](x, y)
