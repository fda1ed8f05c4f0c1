"""``__NAME__`` loss: cross-entropy with label smoothing, for hard or soft targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class __CLASS__(nn.Module):
    """``forward(logits [N, K], targets [N] int64 or [N, K] probabilities) -> loss []``."""

    def __init__(self, label_smoothing: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"__NAME__ loss: label_smoothing must be in [0, 1], found {label_smoothing}")
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if not targets.is_floating_point():
            return F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)
        k = logits.shape[1]
        soft = targets * (1.0 - self.label_smoothing) + self.label_smoothing / k
        return -(soft * logits.log_softmax(dim=1)).sum(dim=1).mean()
