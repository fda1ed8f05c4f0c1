"""``__NAME__`` backbone: one 3x3 convolution, ReLU and global average pooling."""

from __future__ import annotations

import torch
from torch import nn


class __CLASS__(nn.Module):
    """``forward(inputs [N, in_channels, H, W]) -> features [N, width]``."""

    def __init__(self, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, kernel_size=3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features = width

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.pool(torch.relu(self.conv(inputs))).flatten(1)
        return features
