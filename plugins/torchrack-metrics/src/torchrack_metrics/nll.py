"""``nll`` metric: mean negative log-likelihood of the true class."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from torchrack_metrics._base import StreamingMetric


class NLL(StreamingMetric):
    """``nll = -(1/n) sum_i log softmax(z_i)_{y_i}``, accumulated in float64.

    State ``sum`` (float64) and ``count`` (int64). Soft targets count as their argmax class.
    """

    name = "nll"

    def _initial_state(self) -> dict[str, torch.Tensor]:
        return {"sum": torch.zeros((), dtype=torch.float64), "count": torch.zeros((), dtype=torch.int64)}

    def _update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        logp = F.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=1)
        nll = -logp.gather(1, labels[:, None]).squeeze(1)
        self._state["sum"] += nll.double().sum()
        self._state["count"] += labels.shape[0]

    def compute(self) -> dict[str, float | list[list[int]]]:
        count = int(self._value("count"))
        return {"nll": float(self._value("sum")) / count if count else float("nan")}
