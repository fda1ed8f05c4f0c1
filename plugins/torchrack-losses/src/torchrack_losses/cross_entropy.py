"""``cross_entropy`` loss: softmax cross-entropy with label smoothing and class weights."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from torchrack_losses._targets import class_vector, is_soft


class CrossEntropyLoss(nn.Module):
    """``torch.nn.functional.cross_entropy`` with hard or soft targets, mean reduction.

    With ``p = softmax(z)``, smoothing ``eps`` and ``K`` classes, the target distribution is
    ``q = (1 - eps) y + eps / K`` and the per-sample loss ``l_n = -sum_c w_c q_c log p_c``.
    Hard targets: the loss is ``sum_n l_n / sum_n w_{y_n}`` (weighted mean); soft targets:
    ``mean_n l_n`` -- exactly PyTorch's semantics for each case.
    """

    def __init__(self, *, label_smoothing: float = 0.0, weight: Sequence[float] | None = None) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], found {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self.weight = None if weight is None else [float(w) for w in weight]

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if (self.weight is None and targets.dtype == torch.int64 and targets.dim() == 1
                and logits.dim() == 2 and targets.shape[0] == logits.shape[0]):
            # the common case (hard int64 targets, no class weights), once per training step:
            # the same call as below without the general checks
            return F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)
        who = "cross_entropy loss"
        soft = is_soft(logits, targets, who)
        w = class_vector(self.weight, logits, who, "weight")
        t = targets.to(logits.dtype) if soft else targets.long()
        return F.cross_entropy(logits, t, weight=w, label_smoothing=self.label_smoothing)
