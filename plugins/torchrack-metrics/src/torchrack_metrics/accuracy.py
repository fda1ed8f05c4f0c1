"""``accuracy`` metric: top-k accuracy."""

from __future__ import annotations

import torch

from torchrack_metrics._base import StreamingMetric


class Accuracy(StreamingMetric):
    """``top-k accuracy = (1/n) sum_i [y_i in topk(z_i)]``; state ``correct``, ``total`` (int64).

    Reported as ``"accuracy"`` for ``k = 1`` and ``"top{k}_accuracy"`` otherwise; NaN before any
    sample. With ``k >= K`` every sample counts as correct.
    """

    def __init__(self, *, top_k: int = 1) -> None:
        if top_k < 1:
            raise ValueError(f"accuracy metric: top_k must be >= 1, found {top_k}")
        self.top_k = int(top_k)
        self.name = "accuracy" if self.top_k == 1 else f"top{self.top_k}_accuracy"
        super().__init__()

    def _initial_state(self) -> dict[str, torch.Tensor]:
        return {"correct": torch.zeros((), dtype=torch.int64), "total": torch.zeros((), dtype=torch.int64)}

    def _update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        k = min(self.top_k, logits.shape[1])
        if k == 1:
            hit = logits.argmax(dim=1) == labels
        else:
            hit = (logits.topk(k, dim=1).indices == labels[:, None]).any(dim=1)
        self._state["correct"] += hit.sum()
        self._state["total"] += labels.shape[0]

    def compute(self) -> dict[str, float | list[list[int]]]:
        total = int(self._value("total"))
        value = float(self._value("correct")) / total if total else float("nan")
        return {self.name: value}
