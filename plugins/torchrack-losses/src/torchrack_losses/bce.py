"""``bce_with_logits`` loss: per-class sigmoid binary cross-entropy (multi-label or one-hot)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from torchrack_losses._targets import as_probs, class_vector


class BCEWithLogitsLoss(nn.Module):
    """``l = -mean_{n,k} [ r_k y_nk log sigmoid(z_nk) + (1 - y_nk) log(1 - sigmoid(z_nk)) ]``.

    Targets: multi-label or soft ``[N, K]`` floating in ``[0, 1]``, or hard ``[N]`` class indices,
    one-hot encoded. ``pos_weight`` ``r`` (one per class, or null for 1) weights the positives.
    ``label_smoothing`` ``eps`` maps targets to ``y (1 - eps) + eps / 2``.
    """

    def __init__(self, *, pos_weight: Sequence[float] | None = None, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], found {label_smoothing}")
        self.pos_weight = None if pos_weight is None else [float(w) for w in pos_weight]
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        who = "bce_with_logits loss"
        y = as_probs(logits, targets, who)
        if self.label_smoothing:
            y = y * (1.0 - self.label_smoothing) + self.label_smoothing / 2
        pw = class_vector(self.pos_weight, logits, who, "pos_weight")
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw)
