"""``cosine`` head: a normalised (cosine-similarity) classifier with a learnable scale."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CosineHead(nn.Module):
    """``logits_{nk} = s * <x_n / ||x_n||, w_k / ||w_k||>``: cosine similarity between each
    feature vector and each class weight vector, times a learnable scale ``s`` (initialised to
    ``init_scale``), as in normalised-softmax / cosine classifiers (e.g. Gidaris & Komodakis 2018).

    Logits are bounded by ``|s|``; the scale lets the softmax become confident.
    """

    def __init__(
        self,
        *,
        in_features: int = 64,
        num_classes: int = 10,
        init_scale: float = 16.0,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.scale = nn.Parameter(torch.tensor(float(init_scale)))
        self.eps = float(eps)
        self.in_features = in_features
        self.num_classes = num_classes

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = F.normalize(features, dim=1, eps=self.eps)
        w = F.normalize(self.weight, dim=1, eps=self.eps)
        return self.scale.to(x.dtype) * (x @ w.to(x.dtype).t())
