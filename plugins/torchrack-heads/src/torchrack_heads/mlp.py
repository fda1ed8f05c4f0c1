"""``mlp`` head: ``logits = W_2 dropout(relu(W_1 x + b_1)) + b_2``."""

from __future__ import annotations

import torch
from torch import nn


class SeededDropout(nn.Module):
    """Inverted dropout, ``y = x * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)``, drawn from a
    ``torch.Generator`` seeded with ``seed`` (one per device), never from the global RNG.

    Identity in eval mode, when ``p == 0``, and on the ``meta`` device (no values to draw).
    """

    def __init__(self, p: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), found {p}")
        self.p = float(p)
        self.seed = int(seed)
        self._generators: dict[str, torch.Generator] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type == "meta":
            return x
        key = str(x.device)
        gen = self._generators.get(key)
        if gen is None:
            gen = torch.Generator(device=x.device)
            gen.manual_seed(self.seed)
            self._generators[key] = gen
        keep = torch.rand(x.shape, generator=gen, device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}, seed={self.seed}"


class MLPHead(nn.Module):
    """``logits [N, K] = Linear(hidden -> K)(dropout(relu(Linear(F -> hidden)(features))))``."""

    def __init__(
        self,
        *,
        in_features: int = 64,
        hidden: int = 128,
        num_classes: int = 10,
        dropout: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.act = nn.ReLU()
        self.dropout = SeededDropout(dropout, seed)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.in_features = in_features
        self.num_classes = num_classes

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc2(self.dropout(self.act(self.fc1(features))))
        return out
