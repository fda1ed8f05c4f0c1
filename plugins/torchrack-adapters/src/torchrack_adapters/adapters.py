"""The adapters: small ``nn.Module`` s, ``forward(features) -> features``, each one reshaping or
converting what a backbone gives into what a head takes. None holds state but
``linear_projection``'s weights."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
           "float64": torch.float64}


class GlobalPool(nn.Module):
    """Average (or max) over every dim after the channels: ``[N, C, ...] -> [N, C]``."""

    def __init__(self, mode: Literal["avg", "max"] = "avg") -> None:
        super().__init__()
        if mode not in ("avg", "max"):
            raise ValueError(f"global_pool: mode must be 'avg' or 'max', found {mode!r}")
        self.mode = mode

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim <= 2:
            return features
        flat = features.reshape(features.shape[0], features.shape[1], -1)
        if self.mode == "avg":
            return flat.mean(dim=2)
        return flat.amax(dim=2)


class Flatten(nn.Module):
    """Every dim after the batch into one: ``[N, ...] -> [N, F]``."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features.reshape(features.shape[0], -1)


class LinearProjection(nn.Module):
    """A linear map of the features: ``[N, in_features] -> [N, out_features]``."""

    def __init__(self, in_features: int = 64, out_features: int = 64, bias: bool = True) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features, bias=bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(features)
        return out


class Layout(nn.Module):
    """Channels first <-> channels last: ``to = "nhwc"``: ``[N, C, H, W] -> [N, H, W, C]``;
    ``to = "nchw"``: back."""

    def __init__(self, to: Literal["nhwc", "nchw"] = "nchw") -> None:
        super().__init__()
        if to not in ("nhwc", "nchw"):
            raise ValueError(f"layout: to must be 'nhwc' or 'nchw', found {to!r}")
        self.target = to

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim != 4:
            raise ValueError(f"layout: expects a 4-dim feature map, found shape {list(features.shape)}")
        order = (0, 2, 3, 1) if self.target == "nhwc" else (0, 3, 1, 2)
        return features.permute(*order).contiguous()


class Cast(nn.Module):
    """The same tensor in another floating dtype."""

    def __init__(self, dtype: Literal["float32", "float16", "bfloat16", "float64"] = "float32") -> None:
        super().__init__()
        if dtype not in _DTYPES:
            raise ValueError(f"cast: dtype must be one of {', '.join(_DTYPES)}, found {dtype!r}")
        self.dtype = dtype

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features.to(_DTYPES[self.dtype])
