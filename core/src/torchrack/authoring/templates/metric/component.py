"""``__NAME__`` metric: the share of samples whose class is not among the top-k logits."""

from __future__ import annotations

from collections.abc import Mapping

import torch


class __CLASS__:
    """A streaming metric: ``update`` per batch, ``compute() -> {"__NAME__": float}``.

    Its state (``errors``, ``count``) combines across processes by summing.
    """

    def __init__(self, top_k: int = 1) -> None:
        if top_k < 1:
            raise ValueError(f"__NAME__ metric: top_k must be >= 1, found {top_k}")
        self.top_k = top_k
        self.reset()

    def reset(self) -> None:
        self._errors = torch.zeros((), dtype=torch.int64)
        self._count = torch.zeros((), dtype=torch.int64)

    @torch.no_grad()
    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        labels = targets.argmax(dim=1) if targets.dim() == 2 else targets
        k = min(self.top_k, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hit = (top == labels.to(top.device).view(-1, 1)).any(dim=1)
        self._errors = self._errors.to(logits.device) + (~hit).sum()
        self._count = self._count.to(logits.device) + labels.shape[0]

    def state(self) -> dict[str, torch.Tensor]:
        return {"errors": self._errors.clone(), "count": self._count.clone()}

    def load_state(self, state: Mapping[str, torch.Tensor]) -> None:
        self._errors = torch.as_tensor(state["errors"]).clone()
        self._count = torch.as_tensor(state["count"]).clone()

    def compute(self) -> dict[str, float]:
        count = int(self._count)
        return {"__NAME__": float(self._errors) / count if count else float("nan")}
