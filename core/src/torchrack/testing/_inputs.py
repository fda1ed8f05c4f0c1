"""Synthesized inputs: small tensors built from a component's declared input specs.

Sizes come from the spec: integers as given, ``$param`` expressions from the params (defaults
applied), and symbols from :data:`DEFAULT_SIZES`, except where a param gives the size its symbol
stands for (``K`` from ``num_classes``, ``C`` from ``in_channels``/``channels``, ``H`` from
``height``, ``W`` from ``width``, ``F`` from ``in_features``), so that a metric with
``num_classes=10`` gets ``[N, 10]`` logits. ``...`` stands for ``[C, H, W]`` in an ``inputs`` tensor
of a backbone and for nothing elsewhere (``targets [N, ...]`` are class indices ``[N]``). dtypes:
the first concrete dtype the spec allows (``floating`` -> float32, ``integer`` -> int64); a tensor
named ``targets`` that allows integers holds class indices within ``K``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from torchrack.contracts._tensorspec import resolve

#: Sizes of the usual symbols (overridable per call); any other symbol gets ``OTHER_SIZE``.
DEFAULT_SIZES: dict[str, int] = {"N": 4, "C": 3, "H": 32, "W": 32, "K": 5, "F": 8}
OTHER_SIZE = 3

#: symbol -> params that, when set to a positive integer, give its size.
PARAM_SIZES: dict[str, tuple[str, ...]] = {
    "K": ("num_classes",),
    "C": ("in_channels", "channels"),
    "H": ("height",),
    "W": ("width",),
    "F": ("in_features",),
}

_DTYPES = {
    "float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
    "float64": torch.float64, "uint8": torch.uint8, "int8": torch.int8, "int16": torch.int16,
    "int32": torch.int32, "int64": torch.int64, "bool": torch.bool,
}


def symbol_sizes(params: Mapping[str, Any], sizes: Mapping[str, int] | None = None) -> dict[str, int]:
    """The size of each usual symbol for a component with ``params`` (``sizes`` wins)."""
    out = dict(DEFAULT_SIZES)
    for symbol, names in PARAM_SIZES.items():
        for name in names:
            value = params.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                out[symbol] = value
                break
    out.update(sizes or {})
    return out


def _dtype(allowed: tuple[str, ...], name: str) -> torch.dtype:
    if name == "targets" and any(a in ("int64", "integer", "any") for a in allowed):
        return torch.int64
    for a in allowed:
        if a in _DTYPES:
            return _DTYPES[a]
        if a in ("floating", "any"):
            return torch.float32
        if a == "integer":
            return torch.int64
    return torch.float32


def synthesize(
    specs: Mapping[str, Mapping[str, Any]],
    params: Mapping[str, Any],
    *,
    kind: str,
    sizes: Mapping[str, int] | None = None,
    n: int | None = None,
    seed: int = 0,
    soft_targets: bool = False,
) -> dict[str, torch.Tensor]:
    """CPU tensors for ``specs`` (in order), deterministic for ``seed``.

    ``n`` overrides the batch size ``N``; ``soft_targets`` makes ``targets`` probabilities
    ``[N, K]`` (when the spec allows a floating dtype) instead of class indices.
    """
    size = symbol_sizes(params, sizes)
    if n is not None:
        size["N"] = n
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name, raw in specs.items():
        spec = resolve(raw, params)
        shape: list[int] = []
        for d in spec.shape:
            if isinstance(d, int):
                shape.append(d)
            elif d == "...":
                if name == "inputs" and kind == "backbone":
                    shape += [size["C"], size["H"], size["W"]]
                elif name == "features" and kind == "adapter":  # a feature map's spatial dims
                    shape += [size["H"], size["W"]]
            elif d == "*":
                shape.append(OTHER_SIZE)
            else:
                shape.append(size.get(d, OTHER_SIZE))
        dtype = _dtype(spec.dtype, name)
        if name == "targets" and soft_targets:
            dims = list(spec.shape)
            if any(a in ("floating", "any", "float32") for a in spec.dtype) and (
                "..." in dims or len(dims) == 2
            ):
                k = shape[1] if len(shape) == 2 else size["K"]
                logits = torch.randn(shape[0], k, generator=gen)
                out[name] = logits.softmax(dim=1)
                continue
        if name == "targets" and dtype == torch.int64:
            k = size["K"]
            if "logits" in out and out["logits"].dim() == 2:
                k = int(out["logits"].shape[1])
            out[name] = torch.randint(0, max(k, 1), shape, generator=gen)
        elif dtype == torch.bool:
            out[name] = torch.rand(shape, generator=gen) < 0.5
        elif dtype == torch.uint8:
            out[name] = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
        elif not dtype.is_floating_point:
            out[name] = torch.randint(0, 8, shape, generator=gen, dtype=dtype)
        elif name == "inputs":
            out[name] = torch.rand(shape, generator=gen).to(dtype)  # image-like, in [0, 1)
        else:
            out[name] = torch.randn(shape, generator=gen).to(dtype)
    return out


def to_device(tensors: Mapping[str, torch.Tensor], device: str | torch.device) -> dict[str, torch.Tensor]:
    """Copies of ``tensors`` on ``device``."""
    return {k: v.to(device) for k, v in tensors.items()}
