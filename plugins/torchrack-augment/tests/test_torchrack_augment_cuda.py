"""The augmentations on a CUDA batch with a CUDA generator (skipped where no GPU is present).

Needs no installed distribution: components are built from their classes and checked against the
specs read from the package's own manifest, so it also runs from a bare source tree.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
import torch
from torchrack.contract import check_tensors
from torchrack_augment import functional as F
from torchrack_augment import transforms as T

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

CLASSES: dict[str, tuple[type, dict[str, Any]]] = {
    "hflip": (T.HFlip, {}),
    "vflip": (T.VFlip, {}),
    "random_crop": (T.RandomCrop, {"size": 8, "padding": 2}),
    "random_translate": (T.RandomTranslate, {"max_shift": 2}),
    "normalize": (T.Normalize, {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.3, 0.4]}),
    "cutout": (T.Cutout, {"size": 4}),
    "brightness_contrast": (T.BrightnessContrast, {}),
    "mixup": (T.MixUp, {"num_classes": 5}),
    "cutmix": (T.CutMix, {"num_classes": 5}),
    "resize": (T.Resize, {"size": 7}),
    "center_crop": (T.CenterCrop, {"size": 6}),
    "random_resized_crop": (T.RandomResizedCrop, {"size": 9}),
}


def manifest() -> dict[str, Any]:
    text = resources.files("torchrack_augment").joinpath("torchrack-manifest.json").read_text("utf-8")
    components: dict[str, Any] = json.loads(text)["components"]
    return components


@pytest.mark.parametrize("name", sorted(CLASSES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.uint8])
def test_cuda_contract_and_determinism(name: str, dtype: torch.dtype) -> None:
    spec = manifest()[name]
    cls, overrides = CLASSES[name]
    params = {k: v["default"] for k, v in spec["params"]["properties"].items()} | overrides
    assert "cuda" in spec["devices"]
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.rand(64, 3, 12, 10, generator=gen)
    x = (x * 255).round().to(dtype) if dtype == torch.uint8 else x.to(dtype)
    x, y = x.cuda(), torch.randint(0, 5, (64,), generator=gen).cuda()
    before = x.clone()
    cuda_rng = torch.cuda.get_rng_state()
    outs = []
    for _ in range(2):
        aug = cls(**params)
        outs.append(aug(x, y, generator=torch.Generator(device="cuda").manual_seed(3)))
    out_x, out_y = outs[0]
    assert torch.equal(out_x, outs[1][0]) and torch.equal(out_y, outs[1][1])
    assert out_x.device == x.device and torch.equal(x, before)
    assert out_x.dtype == (torch.float32 if name == "normalize" and dtype == torch.uint8 else dtype)
    problems = check_tensors(spec["outputs"], [out_x, out_y], params=params, who=name)
    assert not problems, problems
    if "seed" in params:  # without a generator: the component's own CUDA generator
        a = cls(**{**params, "seed": 1})(x, y)[0]
        b = cls(**{**params, "seed": 1})(x, y)[0]
        assert torch.equal(a, b)
    assert torch.equal(cuda_rng, torch.cuda.get_rng_state()), "the global CUDA RNG was used"


@pytest.mark.parametrize("mode", ["zeros", "reflect"])
def test_cuda_kernels_equal_cpu(mode: str) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(128, 3, 32, 32, generator=gen)
    top = torch.randint(0, 9, (128,), generator=gen)
    left = torch.randint(0, 9, (128,), generator=gen)
    flags = torch.rand(128, generator=gen) < 0.5
    cpu = F.normalize(F.hflip(F.crop(x, top, left, 32, 32, 4, mode), flags), [0.5], [0.25])
    gpu = F.normalize(
        F.hflip(F.crop(x.cuda(), top.cuda(), left.cuda(), 32, 32, 4, mode), flags.cuda()), [0.5], [0.25]
    )
    torch.testing.assert_close(gpu.cpu(), cpu)
