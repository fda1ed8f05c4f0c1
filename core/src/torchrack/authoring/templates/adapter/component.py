"""``__NAME__`` adapter: the mean over every dim after the channels, [N, C, ...] -> [N, C]."""

from __future__ import annotations

import torch
from torch import nn


class __CLASS__(nn.Module):
    """``forward(features [N, C, ...]) -> features [N, C]``: bridges a feature map to a head."""

    def __init__(self) -> None:  # no params (an explicit signature for `torchrack manifest`)
        super().__init__()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim <= 2:
            return features
        pooled: torch.Tensor = features.mean(dim=tuple(range(2, features.ndim)))
        return pooled
