"""``mse`` loss: squared error between predictions and (one-hot or soft) targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from torchrack_losses._targets import as_probs


class MSELoss(nn.Module):
    """``l = mean_{n,k} (f(z)_nk - y_nk)^2`` over all ``N * K`` entries.

    ``on="probs"`` (default): ``f = softmax``, i.e. the Brier score divided by ``K``;
    ``on="logits"``: ``f`` is the identity, regressing the logits onto the targets directly.
    Hard targets ``[N]`` are one-hot encoded; soft targets ``[N, K]`` are used as they are.
    """

    def __init__(self, *, on: str = "probs") -> None:
        super().__init__()
        if on not in ("probs", "logits"):
            raise ValueError(f"mse loss: 'on' must be 'probs' or 'logits', found {on!r}")
        self.on = on

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        y = as_probs(logits, targets, "mse loss")
        pred = logits.softmax(dim=1) if self.on == "probs" else logits
        return F.mse_loss(pred, y)
