"""``confusion_matrix`` metric: counts of (true class, predicted class) pairs."""

from __future__ import annotations

import torch

from torchrack_metrics._base import StreamingMetric


class ConfusionMatrix(StreamingMetric):
    """``C[i][j]`` = number of samples of true class ``i`` predicted as class ``j`` (argmax).

    Rows are true classes, columns predictions; ``K = num_classes``. Samples whose true or
    predicted class falls outside ``[0, K)`` are not counted. State ``matrix`` ``[K, K]`` int64.
    """

    name = "confusion_matrix"

    def __init__(self, *, num_classes: int = 10) -> None:
        if num_classes < 1:
            raise ValueError(f"confusion_matrix metric: num_classes must be >= 1, found {num_classes}")
        self.num_classes = int(num_classes)
        super().__init__()

    def _initial_state(self) -> dict[str, torch.Tensor]:
        k = self.num_classes
        return {"matrix": torch.zeros(k, k, dtype=torch.int64)}

    def _update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        k = self.num_classes
        pred = logits.argmax(dim=1)
        valid = (labels >= 0) & (labels < k) & (pred < k)
        # invalid pairs are sent to index 0 with weight 0: no data-dependent shapes, no sync.
        idx = torch.where(valid, labels * k + pred, torch.zeros_like(labels))
        self._state["matrix"].view(-1).index_add_(0, idx, valid.long())

    def compute(self) -> dict[str, float | list[list[int]]]:
        return {"confusion_matrix": [[int(v) for v in row] for row in self._value("matrix").tolist()]}
