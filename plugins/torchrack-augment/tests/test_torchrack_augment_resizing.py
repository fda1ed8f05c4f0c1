"""resize, center_crop and random_resized_crop: against per-sample torch references and hand-built
windows, on float and uint8 batches."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as tnf
from torchrack import Registry
from torchrack.contracts import params_with_defaults
from torchrack_augment import AugmentationParamError
from torchrack_augment import functional as F

DIST = "torchrack-augment"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(use_cache=False)


def make(registry: Registry, name: str, **params: Any) -> Any:
    comp = registry.resolve("augmentation", f"{DIST}:{name}")
    return registry.load(comp)(**params_with_defaults(comp.params_schema, params))


def images(n: int = 5, h: int = 12, w: int = 10, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    x = torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(1))
    return (x * 255).round().to(torch.uint8) if dtype == torch.uint8 else x


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest", "area"])
def test_resize_matches_per_sample_interpolate(registry: Registry, mode: str) -> None:
    x, y = images(), torch.arange(5)
    out, out_y = make(registry, "resize", size=7, mode=mode)(x, y)
    assert out.shape == (5, 3, 7, 7) and torch.equal(out_y, y)
    extra: dict[str, Any] = {"align_corners": False, "antialias": True} if mode in ("bilinear", "bicubic") else {}
    for n in range(5):
        ref = tnf.interpolate(x[n:n + 1], size=(7, 7), mode=mode, **extra)[0]
        torch.testing.assert_close(out[n], ref)


def test_resize_uint8_rounds_back_to_bytes(registry: Registry) -> None:
    x = images(dtype=torch.uint8)
    out = make(registry, "resize", size=16)(x, torch.arange(5))[0]
    assert out.dtype == torch.uint8
    ref = tnf.interpolate(x.float(), size=(16, 16), mode="bilinear", align_corners=False, antialias=True)
    assert torch.equal(out, ref.round().clamp(0, 255).to(torch.uint8))


def test_resize_to_the_same_size_is_a_copy(registry: Registry) -> None:
    x = images(h=8, w=8)
    out = make(registry, "resize", size=8)(x, torch.arange(5))[0]
    assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()


def test_center_crop_hand_built() -> None:
    x = torch.arange(30.0).reshape(1, 1, 5, 6)
    assert F.center_crop(x, 2, 2)[0, 0].tolist() == [[8.0, 9.0], [14.0, 15.0]]  # rows 1-2, columns 2-3
    assert F.center_crop(x, 5, 6).tolist() == x.tolist()
    assert F.center_crop(x, 3, 4)[0, 0].tolist() == [[7, 8, 9, 10], [13, 14, 15, 16], [19, 20, 21, 22]]


def test_center_crop_larger_than_the_images_pads_with_zeros(registry: Registry) -> None:
    x = torch.arange(1.0, 7.0).reshape(1, 1, 2, 3)  # [[1, 2, 3], [4, 5, 6]]
    # 5 rows from 2: one zero row above, two below; 4 columns from 3: none left, one right.
    want = [[0, 0, 0, 0], [1, 2, 3, 0], [4, 5, 6, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert F.center_crop(x, 5, 4)[0, 0].tolist() == want
    out = make(registry, "center_crop", size=13)(images(), torch.arange(5))[0]
    assert out.shape == (5, 3, 13, 13)
    # 12x10 to 13x13: rows 0-11 are the image and row 12 zeros; columns 1-10 the image.
    assert torch.equal(out[..., 12, :], torch.zeros(5, 3, 13)) and torch.equal(out[..., :12, 1:11], images())
    assert torch.equal(out[..., 0], torch.zeros(5, 3, 13)) and torch.equal(out[..., 11:], torch.zeros(5, 3, 13, 2))


def test_random_resized_crop_of_the_whole_image_is_a_resize(registry: Registry) -> None:
    x = images(h=12, w=12)
    aug = make(registry, "random_resized_crop", size=5, scale=[1.0, 1.0], ratio=[1.0, 1.0], seed=0)
    out = aug(x, torch.arange(5))[0]
    ref = tnf.interpolate(x, size=(5, 5), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_random_resized_crop_unscaled_boxes_are_windows(registry: Registry, dtype: torch.dtype) -> None:
    # A quarter of a 12x12 image at ratio 1 is a 6x6 box: sampled at size 6, each output is
    # exactly one window of its input, and the windows' offsets vary per sample.
    x = images(n=24, h=12, w=12, dtype=dtype)
    aug = make(registry, "random_resized_crop", size=6, scale=[0.25, 0.25], ratio=[1.0, 1.0])
    out = aug(x, torch.arange(24), generator=torch.Generator().manual_seed(3))[0]
    assert out.dtype == dtype and out.shape == (24, 3, 6, 6)
    offsets = set()
    for n in range(24):
        hits = [(i, j) for i in range(7) for j in range(7)
                if torch.allclose(out[n].float(), x[n, :, i:i + 6, j:j + 6].float(), atol=1e-4)]
        assert hits, f"sample {n} is no 6x6 window of its input"
        offsets.add(hits[0])
    assert len(offsets) > 8


def test_random_resized_crop_boxes_follow_scale_and_ratio(registry: Registry) -> None:
    # Constant-per-column images: the output's column values tell which input columns a box spans.
    x = torch.arange(40.0).reshape(1, 1, 1, 40).expand(64, 1, 40, 40).contiguous()
    aug = make(registry, "random_resized_crop", size=8, scale=[0.1, 0.3], ratio=[2.0, 2.0], seed=5)
    out = aug(x, torch.arange(64))[0]
    spans = out[:, 0, 0, -1] - out[:, 0, 0, 0]  # about the box width (less one output step)
    widths = spans * 8 / 7
    # width = sqrt(area * 2), area in [0.1, 0.3] * 1600: widths from about 17.9 to 31.
    assert float(widths.min()) > 14 and float(widths.max()) < 33
    assert float(widths.max() - widths.min()) > 5


@pytest.mark.parametrize(
    "name,params,match",
    [
        ("resize", {"size": 0}, "size"),
        ("resize", {"mode": "lanczos"}, "mode"),
        ("center_crop", {"size": -1}, "size"),
        ("random_resized_crop", {"scale": [0.5, 0.2]}, "scale"),
        ("random_resized_crop", {"ratio": [0.0, 1.0]}, "ratio"),
        ("random_resized_crop", {"mode": "bicubic"}, "mode"),
    ],
)
def test_bad_params(registry: Registry, name: str, params: dict[str, Any], match: str) -> None:
    cls = registry.get("augmentation", f"{DIST}:{name}")
    with pytest.raises(AugmentationParamError, match=match):
        cls(**params)
