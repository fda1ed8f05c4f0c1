"""``mlp`` backbone: flatten, then Linear-ReLU blocks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MLPBackbone(nn.Module):
    """Flatten ``inputs [N, ...]`` and apply ``h_{i+1} = relu(W_i h_i + b_i)`` for each width.

    The input size is ``in_features`` when given, else ``in_channels * height * width``. The output
    is ``features [N, F]`` with ``F = widths[-1]`` (``out_features``).
    """

    def __init__(
        self,
        *,
        in_features: int | None = None,
        in_channels: int = 1,
        height: int = 8,
        width: int = 8,
        widths: Sequence[int] = (128, 64),
    ) -> None:
        super().__init__()
        if not widths:
            raise ValueError("mlp backbone: 'widths' needs at least one width")
        size = int(in_features) if in_features is not None else in_channels * height * width
        self.in_features = size
        layers: list[nn.Module] = []
        for w in widths:
            layers += [nn.Linear(size, int(w)), nn.ReLU(inplace=True)]
            size = int(w)
        self.layers = nn.Sequential(*layers)
        self.out_features = size

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        # flatten is logical (C, H, W order), so channels_last inputs give the same features.
        x = inputs.flatten(1)
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"mlp backbone expects {self.in_features} input features per sample, found "
                f"{x.shape[1]} (inputs of shape {list(inputs.shape)}); set in_features or "
                "in_channels/height/width to match the data"
            )
        out: torch.Tensor = self.layers(x)
        return out
