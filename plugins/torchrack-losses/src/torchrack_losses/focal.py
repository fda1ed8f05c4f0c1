"""``focal`` loss: multi-class focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection")."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from torchrack_losses._targets import as_probs, class_vector


class FocalLoss(nn.Module):
    """``FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t)``, averaged over the batch.

    ``p = softmax(z)``; for a hard target ``y``, ``p_t = p_y`` and ``alpha_t`` is ``alpha`` (a
    scalar), ``alpha[y]`` (a per-class list) or 1 (null). Soft targets ``q`` generalise it as
    ``-sum_c q_c alpha_c (1 - p_c)^gamma log p_c``, which equals the hard form for one-hot ``q``.
    With ``gamma = 0`` and ``alpha = null`` it is the (unweighted) cross-entropy.
    ``log p`` comes from ``log_softmax`` for numerical stability.
    """

    def __init__(self, *, gamma: float = 2.0, alpha: float | Sequence[float] | None = None) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"focal loss: gamma must be >= 0, found {gamma}")
        self.gamma = float(gamma)
        self.alpha: float | list[float] | None
        if alpha is None or isinstance(alpha, (int, float)):
            self.alpha = None if alpha is None else float(alpha)
        else:
            self.alpha = [float(a) for a in alpha]

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        who = "focal loss"
        q = as_probs(logits, targets, who)
        logp = F.log_softmax(logits, dim=1)
        modulating = (1.0 - logp.exp()).clamp(min=0.0).pow(self.gamma)
        per_class = -q * modulating * logp
        alpha = class_vector(self.alpha, logits, who, "alpha")
        if alpha is not None:
            per_class = per_class * alpha
        return per_class.sum(dim=1).mean()
