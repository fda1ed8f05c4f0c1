"""The functional kernels against hand-built expected tensors and per-sample references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as tnf
from torchrack_augment import functional as F


def grid(n: int = 1, c: int = 1, h: int = 4, w: int = 4, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.arange(n * c * h * w).reshape(n, c, h, w).to(dtype)


def test_hflip_vflip_hand_built() -> None:
    x = torch.tensor([[[[1, 2, 3], [4, 5, 6]]], [[[7, 8, 9], [10, 11, 12]]]], dtype=torch.uint8)
    flags = torch.tensor([True, False])
    assert F.hflip(x, flags).tolist() == [[[[3, 2, 1], [6, 5, 4]]], [[[7, 8, 9], [10, 11, 12]]]]
    assert F.vflip(x, flags).tolist() == [[[[4, 5, 6], [1, 2, 3]]], [[[7, 8, 9], [10, 11, 12]]]]
    assert F.hflip(x, flags).dtype == torch.uint8


def test_crop_zeros_hand_built() -> None:
    x = grid(h=3, w=3) + 1  # [[1,2,3],[4,5,6],[7,8,9]]
    out = F.crop(x, torch.tensor([0]), torch.tensor([2]), 3, 3, padding=1)
    assert out[0, 0].tolist() == [[0, 0, 0], [2, 3, 0], [5, 6, 0]]
    out = F.crop(x, torch.tensor([1]), torch.tensor([1]), 2, 2, padding=1, fill=-1.0)
    assert out[0, 0].tolist() == [[1, 2], [4, 5]]


def test_crop_reflect_hand_built() -> None:
    x = grid(h=3, w=3) + 1
    out = F.crop(x, torch.tensor([0]), torch.tensor([0]), 3, 3, padding=1, padding_mode="reflect")
    # Padded row -1 mirrors row 1, column -1 mirrors column 1 (F.pad's "reflect").
    assert out[0, 0].tolist() == [[5, 4, 5], [2, 1, 2], [5, 4, 5]]


@pytest.mark.parametrize("mode", ["zeros", "reflect"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_crop_matches_per_sample_reference(mode: str, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(16, 3, 7, 6, generator=gen) * 255).to(dtype)
    pad, size = 3, 5
    top = torch.randint(0, 7 + 2 * pad - size + 1, (16,), generator=gen)
    left = torch.randint(0, 6 + 2 * pad - size + 1, (16,), generator=gen)
    out = F.crop(x, top, left, size, size, pad, mode)
    torch_mode = "constant" if mode == "zeros" else "reflect"
    for n in range(16):  # the reference: pad one sample, slice its window
        padded = tnf.pad(x[n : n + 1].float(), (pad, pad, pad, pad), mode=torch_mode)[0]
        t, lf = int(top[n]), int(left[n])
        assert torch.equal(out[n].float(), padded[:, t : t + size, lf : lf + size]), n
    assert out.dtype == dtype


def test_translate_hand_built() -> None:
    x = grid(h=3, w=3) + 1
    out = F.translate(x, torch.tensor([1]), torch.tensor([-1]))  # down 1, left 1
    assert out[0, 0].tolist() == [[0, 0, 0], [2, 3, 0], [5, 6, 0]]
    out = F.translate(x, torch.tensor([0]), torch.tensor([1]), padding_mode="reflect")
    assert out[0, 0].tolist() == [[2, 1, 2], [5, 4, 5], [8, 7, 8]]


def test_erase_hand_built_and_clipped() -> None:
    x = torch.ones(2, 1, 4, 4)
    out = F.erase(x, torch.tensor([1, -1]), torch.tensor([2, -1]), torch.tensor([2, 2]),
                  torch.tensor([2, 2]), value=0.0)
    assert out[0, 0].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]]
    assert out[1, 0].tolist() == [[0, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]
    assert float(x.sum()) == 32  # input untouched


def test_brightness_contrast_hand_built() -> None:
    x = torch.tensor([[[[0.2, 0.4], [0.6, 0.8]]]])
    # brightness 1.5 -> [.3, .6, .9, 1.2], mean .75; contrast 0.5 -> (y - .75) * .5 + .75; clip to 1.
    out = F.adjust_brightness_contrast(x, torch.tensor([1.5]), torch.tensor([0.5]))
    expected = torch.tensor([[[[0.525, 0.675], [0.825, 0.975]]]])
    torch.testing.assert_close(out, expected)
    out = F.adjust_brightness_contrast(x, torch.tensor([2.0]), torch.tensor([1.0]))
    torch.testing.assert_close(out, torch.tensor([[[[0.4, 0.8], [1.0, 1.0]]]]))
    u8 = torch.tensor([[[[100, 200]]]], dtype=torch.uint8)
    out = F.adjust_brightness_contrast(u8, torch.tensor([1.5]), torch.tensor([1.0]))
    assert out.dtype == torch.uint8 and out.tolist() == [[[[150, 255]]]]


def test_normalize_hand_built() -> None:
    x = torch.tensor([[[[0.5]], [[1.0]]]])
    out = F.normalize(x, [0.5, 0.0], [0.25, 2.0])
    assert out.flatten().tolist() == [0.0, 0.5]
    u8 = torch.tensor([[[[255, 0]]]], dtype=torch.uint8)
    out = F.normalize(u8, [0.5], [0.5])
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.flatten(), torch.tensor([1.0, -1.0]))
    x64 = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    assert F.normalize(x64, [0.0], [1.0]).dtype == torch.float64


def test_soft_targets_and_mix_hand_built() -> None:
    soft = F.soft_targets(torch.tensor([2, 0]), 3)
    assert soft.tolist() == [[0, 0, 1], [1, 0, 0]] and soft.dtype == torch.float32
    x = torch.tensor([[[[0.0]]], [[[1.0]]]])
    out, tgt = F.mix(x, soft, torch.tensor([1, 0]), 0.75)
    assert out.flatten().tolist() == [0.25, 0.75]
    assert tgt.tolist() == [[0.25, 0, 0.75], [0.75, 0, 0.25]]


def test_paste_box_hand_built() -> None:
    x = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])
    soft = F.soft_targets(torch.tensor([0, 1]), 2)
    out, tgt = F.paste_box(x, soft, torch.tensor([1, 0]), (1, 1, 2, 2))
    assert out[0, 0].tolist() == [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    assert out[1, 0].tolist() == [[1, 1, 1, 1], [1, 0, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]]
    assert tgt.tolist() == [[0.75, 0.25], [0.25, 0.75]]
    assert float(x[0].sum()) == 0  # input untouched


def test_fill_values_uint8() -> None:
    x = torch.full((1, 2, 2, 2), 100, dtype=torch.uint8)
    out = F.crop(x, torch.tensor([0]), torch.tensor([0]), 2, 2, padding=1, fill=9)
    assert out[:, 0].tolist() == [[[9, 9], [9, 100]]] and out.dtype == torch.uint8
    out = F.erase(x, torch.tensor([1]), torch.tensor([0]), torch.tensor([1]), torch.tensor([2]), value=7)
    assert out[:, 1].tolist() == [[[100, 100], [7, 7]]]
    assert int(x.min()) == 100


@pytest.mark.parametrize(("dtype", "fill"), [(torch.float32, 0.0), (torch.float32, 2.5), (torch.uint8, 0.0)])
def test_the_padded_crop_used_on_accelerators_equals_the_masked_crop(dtype: torch.dtype, fill: float) -> None:
    # crop() takes the pad-then-gather path off the CPU; both paths must give the same pixels.
    from torchrack_augment.functional import _crop_padded

    g = torch.Generator().manual_seed(3)
    x = (torch.rand(6, 3, 9, 7, generator=g) * 200).to(dtype)
    top = torch.randint(0, 9, (6,), generator=g)
    left = torch.randint(0, 7, (6,), generator=g)
    masked = F.crop(x, top, left, 8, 6, padding=4, fill=fill)
    padded = _crop_padded(x, top, left, 8, 6, 4, fill)
    assert padded.dtype == masked.dtype
    assert torch.equal(padded, masked)
