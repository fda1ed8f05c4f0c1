"""Functional kernels: pure functions of a batch ``[N, C, H, W]`` and explicit per-sample params.

Kernels draw no random numbers: the configurable classes in :mod:`torchrack_augment.transforms`
sample the params (from a ``torch.Generator``) and call these. Every kernel is vectorized over the
batch (no Python loop over samples), runs on the batch's device (``meta`` included), returns a new
tensor (never writes into its input) and keeps the input dtype, except :func:`normalize`, which
returns a floating tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "adjust_brightness_contrast",
    "center_crop",
    "crop",
    "erase",
    "hflip",
    "mix",
    "normalize",
    "paste_box",
    "resize",
    "resized_crop",
    "sample_window",
    "soft_targets",
    "translate",
    "vflip",
]


_ARANGES: dict[tuple[int, str, bool], Tensor] = {}


def _arange(size: int, device: torch.device, reverse: bool = False) -> Tensor:
    """``arange(size)`` (or its reverse) on ``device``, built once: a GPU step launches no kernel
    for it. Callers never write into the result."""
    if device.type == "meta":
        ar = torch.arange(size, device=device)
        return size - 1 - ar if reverse else ar
    key = (size, str(device), reverse)
    cached = _ARANGES.get(key)
    if cached is None:
        ar = torch.arange(size, device=device)
        cached = _ARANGES[key] = size - 1 - ar if reverse else ar
    return cached


def _flip(inputs: Tensor, flags: Tensor, dim: int) -> Tensor:
    size, dev = inputs.shape[dim], inputs.device
    # Per-sample source index along ``dim``: reversed where flagged; one gather, no full flip copy.
    index = torch.where(flags.reshape(-1, 1).bool(), _arange(size, dev, True), _arange(size, dev))
    shape = [inputs.shape[0]] + [1] * (inputs.dim() - 1)
    shape[dim] = size
    return inputs.gather(dim, index.reshape(shape).expand(inputs.shape))


def hflip(inputs: Tensor, flags: Tensor) -> Tensor:
    """Mirror left-right the samples whose ``flags[n]`` is true (``flags``: bool ``[N]``)."""
    return _flip(inputs, flags, inputs.dim() - 1)


def vflip(inputs: Tensor, flags: Tensor) -> Tensor:
    """Mirror top-bottom the samples whose ``flags[n]`` is true (``flags``: bool ``[N]``)."""
    return _flip(inputs, flags, inputs.dim() - 2)


def _reflect(index: Tensor, size: int) -> Tensor:
    # Reflection without repeating the edge (F.pad's "reflect"): -1 -> 1, size -> size - 2.
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    index = torch.remainder(index, period)
    return torch.where(index >= size, period - index, index)


def sample_window(
    inputs: Tensor,
    rows: Tensor,
    cols: Tensor,
    padding_mode: str = "zeros",
    fill: float = 0.0,
) -> Tensor:
    """Per-sample windows: ``out[n, c, i, j] = inputs[n, c, rows[n, i], cols[n, j]]``.

    ``rows`` ``[N, h]`` and ``cols`` ``[N, w]`` are integer source coordinates that may fall outside
    the image: ``padding_mode`` "zeros" gives ``fill`` there, "reflect" mirrors them back inside
    (as ``torch.nn.functional.pad(mode="reflect")``). One gather on the unpadded batch.
    """
    n, c, height, width = inputs.shape
    h, w = rows.shape[1], cols.shape[1]
    if padding_mode == "reflect":
        src_r, src_c = _reflect(rows, height), _reflect(cols, width)
    elif padding_mode == "zeros":
        src_r, src_c = rows.clamp(0, height - 1), cols.clamp(0, width - 1)
    else:
        raise ValueError(f"padding_mode must be 'zeros' or 'reflect', found {padding_mode!r}")
    index = (src_r.unsqueeze(2) * width + src_c.unsqueeze(1)).reshape(n, 1, h * w)
    out = inputs.reshape(n, c, height * width).gather(2, index.expand(n, c, h * w))
    out = out.reshape(n, c, h, w)
    if padding_mode == "zeros":
        keep = ((rows >= 0) & (rows < height)).to(out.dtype).unsqueeze(2) * (
            (cols >= 0) & (cols < width)
        ).to(out.dtype).unsqueeze(1)
        _blend_fill(out, keep.unsqueeze(1), fill)  # ``out`` is ours: a fresh gather result
    return out


def _blend_fill(out: Tensor, keep: Tensor, fill: float) -> Tensor:
    # ``out = out * keep + fill * (1 - keep)`` in place, ``keep`` a 0/1 mask of out's dtype that
    # broadcasts over channels. A multiply is several times faster on CPU than a broadcast
    # ``masked_fill`` with a bool mask.
    out.mul_(keep)
    if fill != 0:
        out.add_(((1 - keep) * fill).to(out.dtype))
    return out


def crop(
    inputs: Tensor,
    top: Tensor,
    left: Tensor,
    height: int,
    width: int,
    padding: int = 0,
    padding_mode: str = "zeros",
    fill: float = 0.0,
) -> Tensor:
    """Crop ``[height, width]`` windows at per-sample offsets of the batch padded by ``padding``.

    ``top``/``left`` (integer ``[N]``) are offsets into the padded image, in
    ``[0, H + 2 * padding - height]``; the padding itself is never materialized.
    """
    dev = inputs.device
    if (padding_mode == "zeros" and padding > 0 and dev.type != "cpu"
            and (fill == 0 or inputs.is_floating_point())):
        # On an accelerator, per-op launch cost dominates: pad once (a small copy), then one
        # gather with in-bounds indices: a third of the operations of the masked path below.
        return _crop_padded(inputs, top, left, height, width, padding, fill)
    rows = top.reshape(-1, 1) - padding + _arange(height, dev)
    cols = left.reshape(-1, 1) - padding + _arange(width, dev)
    return sample_window(inputs, rows, cols, padding_mode, fill)


def _crop_padded(inputs: Tensor, top: Tensor, left: Tensor, height: int, width: int,
                 padding: int, fill: float) -> Tensor:
    """:func:`crop` with zero (``fill``) padding, by padding the batch then one gather."""
    n, c, _, w = inputs.shape
    dev = inputs.device
    padded = torch.nn.functional.pad(inputs, (padding,) * 4, value=fill)
    full_w = w + 2 * padding
    index = ((top.reshape(-1, 1, 1) + _arange(height, dev).reshape(1, -1, 1)) * full_w
             + (left.reshape(-1, 1, 1) + _arange(width, dev).reshape(1, 1, -1)))
    out = padded.reshape(n, c, -1).gather(2, index.reshape(n, 1, -1).expand(n, c, -1))
    return out.reshape(n, c, height, width)


def translate(
    inputs: Tensor, dy: Tensor, dx: Tensor, padding_mode: str = "zeros", fill: float = 0.0
) -> Tensor:
    """Shift each sample by ``dy`` rows down and ``dx`` columns right (integer ``[N]``)."""
    _, _, height, width = inputs.shape
    dev = inputs.device
    rows = torch.arange(height, device=dev) - dy.reshape(-1, 1)
    cols = torch.arange(width, device=dev) - dx.reshape(-1, 1)
    return sample_window(inputs, rows, cols, padding_mode, fill)


def erase(
    inputs: Tensor, top: Tensor, left: Tensor, height: Tensor, width: Tensor, value: float = 0.0
) -> Tensor:
    """Set a per-sample box (integer ``[N]`` each; clipped to the image) to ``value``."""
    _, _, h, w = inputs.shape
    dev = inputs.device
    r = torch.arange(h, device=dev)
    c = torch.arange(w, device=dev)
    in_rows = (r >= top.reshape(-1, 1)) & (r < (top + height).reshape(-1, 1))  # [N, H]
    in_cols = (c >= left.reshape(-1, 1)) & (c < (left + width).reshape(-1, 1))  # [N, W]
    box = in_rows.to(inputs.dtype).unsqueeze(2) * in_cols.to(inputs.dtype).unsqueeze(1)
    keep = (1 - box).unsqueeze(1)  # [N, 1, H, W]
    out = inputs * keep
    if value != 0:
        out.add_((box.unsqueeze(1) * value).to(out.dtype))
    return out


def _value_bound(dtype: torch.dtype) -> float:
    return 255.0 if dtype == torch.uint8 else 1.0


def _to_work(inputs: Tensor) -> Tensor:
    return inputs if inputs.is_floating_point() else inputs.to(torch.float32)


def _from_work(result: Tensor, dtype: torch.dtype) -> Tensor:
    if dtype.is_floating_point:
        return result.to(dtype)
    return result.round_().clamp_(0, 255).to(dtype)


def adjust_brightness_contrast(
    inputs: Tensor, brightness: Tensor, contrast: Tensor, clip: bool = True
) -> Tensor:
    """Scale each sample by ``brightness[n]``, then its contrast about its mean by ``contrast[n]``.

    ``out = (x * b - m) * c + m`` with ``m`` the per-sample mean of ``x * b``, clipped to [0, 1]
    (floating, when ``clip``) or [0, 255] (uint8, always).
    """
    x = _to_work(inputs)
    b = brightness.to(x.dtype).reshape(-1, 1, 1, 1)
    k = contrast.to(x.dtype).reshape(-1, 1, 1, 1)
    y = x * b
    m = y.mean(dim=(1, 2, 3), keepdim=True)
    out = torch.addcmul(m * (1 - k), y, k)  # (y - m) * k + m in one pass
    if clip or not inputs.is_floating_point():
        out = out.clamp_(0.0, _value_bound(inputs.dtype))
    return _from_work(out, inputs.dtype)


def normalize(inputs: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """``(x - mean[c]) / std[c]`` per channel (a length-1 list applies to every channel).

    Floating inputs keep their dtype; integer (uint8) inputs are first scaled to [0, 1] by 255
    and give float32.
    """
    x = inputs
    scale = 1.0
    if not x.is_floating_point():
        x = x.to(torch.float32)
        scale = 1.0 / 255.0
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
    # x * (scale / s) + (-m / s): one fused pass over the batch instead of a subtract and a divide.
    return torch.addcmul(-m / s, x, scale / s)


def soft_targets(targets: Tensor, num_classes: int) -> Tensor:
    """Class indices ``[N]`` as one-hot float32 ``[N, K]``; soft targets ``[N, K]`` pass as floating."""
    if targets.dim() == 2 and targets.is_floating_point():
        return targets
    out = torch.zeros((targets.shape[0], num_classes), dtype=torch.float32, device=targets.device)
    return out.scatter_(1, targets.reshape(-1, 1).to(torch.int64), 1.0)


def mix(
    inputs: Tensor, targets: Tensor, perm: Tensor, lam: float | Tensor
) -> tuple[Tensor, Tensor]:
    """Mixup: ``lam * x + (1 - lam) * x[perm]``, likewise for (soft) ``targets`` ``[N, K]``;
    ``lam`` a float or a 0-d tensor."""
    x = _to_work(inputs)
    lam_x = lam.to(x.dtype) if isinstance(lam, Tensor) else lam
    lam_t = lam.to(targets.dtype) if isinstance(lam, Tensor) else lam
    mixed = torch.lerp(x.index_select(0, perm), x, lam_x)
    mixed_t = torch.lerp(targets.index_select(0, perm), targets, lam_t)
    return _from_work(mixed, inputs.dtype), mixed_t


def paste_box(
    inputs: Tensor, targets: Tensor, perm: Tensor, box: tuple[int, int, int, int]
) -> tuple[Tensor, Tensor]:
    """CutMix: paste the box ``(top, left, height, width)`` of ``x[perm]`` into each ``x``.

    Targets (soft, ``[N, K]``) mix by area: ``lam = 1 - box area / image area``.
    """
    top, left, h, w = box
    out = inputs.clone()
    patch = inputs[:, :, top : top + h, left : left + w]
    out[:, :, top : top + h, left : left + w] = patch.index_select(0, perm)
    lam = 1.0 - (h * w) / float(inputs.shape[2] * inputs.shape[3])
    return out, torch.lerp(targets.index_select(0, perm), targets, lam)


def paste_span(
    inputs: Tensor, targets: Tensor, perm: Tensor, top: Tensor, bottom: Tensor, left: Tensor, right: Tensor
) -> tuple[Tensor, Tensor]:
    """CutMix with the box given as 0-d tensors (rows ``[top, bottom)``, columns ``[left,
    right)``): :func:`paste_box` as a mask, so the box's size never becomes a Python int (and
    ``torch.compile`` traces it). Targets mix by area like :func:`paste_box`."""
    height, width = inputs.shape[2], inputs.shape[3]
    rows = torch.arange(height, device=inputs.device)
    cols = torch.arange(width, device=inputs.device)
    mask = ((rows >= top) & (rows < bottom)).unsqueeze(1) & ((cols >= left) & (cols < right)).unsqueeze(0)
    out = torch.where(mask, inputs.index_select(0, perm), inputs)
    area = (bottom - top).clamp(min=0) * (right - left).clamp(min=0)
    lam = (1.0 - area / float(height * width)).to(targets.dtype)
    return out, torch.lerp(targets.index_select(0, perm), targets, lam)


#: Interpolation modes of :func:`resize` and :func:`resized_crop` (``torch.nn.functional`` names).
RESIZE_MODES = ("bilinear", "bicubic", "nearest", "area")


def resize(inputs: Tensor, height: int, width: int, mode: str = "bilinear", antialias: bool = True) -> Tensor:
    """The whole batch resized to ``[height, width]`` by ``torch.nn.functional.interpolate``.

    ``antialias`` (bilinear and bicubic only) low-pass filters when shrinking, as Pillow does.
    Integer (uint8) inputs are resized in float32, then rounded and clamped back to 0..255.
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"mode must be one of {', '.join(RESIZE_MODES)}, found {mode!r}")
    x = _to_work(inputs)
    if tuple(x.shape[-2:]) == (height, width):
        return inputs.clone()
    kwargs: dict[str, object] = {}
    if mode in ("bilinear", "bicubic"):
        kwargs = {"align_corners": False, "antialias": antialias}
    out = torch.nn.functional.interpolate(x, size=(height, width), mode=mode, **kwargs)  # type: ignore[arg-type]
    return _from_work(out, inputs.dtype)


def center_crop(inputs: Tensor, height: int, width: int) -> Tensor:
    """The central ``[height, width]`` window of every sample (the top-left one of the two
    central pixels when a size difference is odd), as a new tensor. Images smaller than the
    window are zero-padded first, evenly on both sides (the extra row or column at the bottom or
    right), as torchvision's ``CenterCrop`` does, so any image size gives the declared output."""
    h, w = inputs.shape[-2:]
    if height > h or width > w:
        dh, dw = max(height - h, 0), max(width - w, 0)
        inputs = torch.nn.functional.pad(inputs, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
        h, w = inputs.shape[-2:]
    top, left = (h - height) // 2, (w - width) // 2
    return inputs[..., top:top + height, left:left + width].clone()


def resized_crop(
    inputs: Tensor,
    top: Tensor,
    left: Tensor,
    height: Tensor,
    width: Tensor,
    size: int,
    mode: str = "bilinear",
) -> Tensor:
    """Per-sample boxes (``top``, ``left``, ``height``, ``width``: pixel units, ``[N]`` each) each
    resized to ``[size, size]``: one ``grid_sample`` for the whole batch.

    The sampling grid puts output pixel centres evenly over each box (``align_corners=False``),
    so a box covering the whole image gives ``resize(inputs, size, size, antialias=False)``.
    ``mode`` is "bilinear" or "nearest"; integer inputs are sampled in float32 and rounded back.
    """
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"mode must be 'bilinear' or 'nearest', found {mode!r}")
    x = _to_work(inputs)
    n, c, h, w = x.shape
    dt = x.dtype
    sx = width.to(dt) / w
    sy = height.to(dt) / h
    cx = (2 * left.to(dt) + width.to(dt)) / w - 1
    cy = (2 * top.to(dt) + height.to(dt)) / h - 1
    zero = torch.zeros_like(sx)
    theta = torch.stack([torch.stack([sx, zero, cx], 1), torch.stack([zero, sy, cy], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta, [n, c, size, size], align_corners=False)
    out = torch.nn.functional.grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=False)
    return _from_work(out, inputs.dtype)
