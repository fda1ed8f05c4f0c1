"""``linear`` head: ``logits = x W^T + b``."""

from __future__ import annotations

import torch
from torch import nn


class LinearHead(nn.Module):
    """``logits [N, K] = features [N, F] @ W^T + b`` with ``W`` of shape ``[K, F]``."""

    def __init__(self, *, in_features: int = 64, num_classes: int = 10, bias: bool = True) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes, bias=bias)
        self.in_features = in_features
        self.num_classes = num_classes

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(features)
        return out
