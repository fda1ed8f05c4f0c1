"""``__NAME__`` head: dropout then one linear layer."""

from __future__ import annotations

import torch
from torch import nn


class __CLASS__(nn.Module):
    """``forward(features [N, in_features]) -> logits [N, num_classes]``."""

    def __init__(self, in_features: int = 64, num_classes: int = 10, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.fc(self.dropout(features))
        return logits
