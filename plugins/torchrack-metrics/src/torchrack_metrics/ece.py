"""``ece`` metric: expected calibration error with equal-width confidence bins."""

from __future__ import annotations

import torch

from torchrack_metrics._base import StreamingMetric


class ECE(StreamingMetric):
    """Expected calibration error (Naeini et al. 2015; Guo et al. 2017).

    With confidence ``c_i = max_k softmax(z_i)_k``, prediction ``argmax_k z_ik`` and ``M`` bins
    ``B_m = ((m-1)/M, m/M]`` (the first also holds 0):

        ECE = sum_m |B_m|/n * |acc(B_m) - conf(B_m)| = (1/n) sum_m |sum_{i in B_m} (1[correct_i] - c_i)|

    State per bin (summable): ``count`` (int64), ``conf_sum`` and ``correct_sum`` (float64).
    """

    name = "ece"

    def __init__(self, *, n_bins: int = 15) -> None:
        if n_bins < 1:
            raise ValueError(f"ece metric: n_bins must be >= 1, found {n_bins}")
        self.n_bins = int(n_bins)
        super().__init__()

    def _initial_state(self) -> dict[str, torch.Tensor]:
        return {
            "count": torch.zeros(self.n_bins, dtype=torch.int64),
            "conf_sum": torch.zeros(self.n_bins, dtype=torch.float64),
            "correct_sum": torch.zeros(self.n_bins, dtype=torch.float64),
        }

    def _update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        probs = logits.to(torch.promote_types(logits.dtype, torch.float32)).softmax(dim=1)
        conf, pred = probs.max(dim=1)
        conf = conf.double()
        bins = (torch.ceil(conf * self.n_bins).long() - 1).clamp(0, self.n_bins - 1)
        correct = (pred == labels).double()
        self._state["count"].index_add_(0, bins, torch.ones_like(bins))
        self._state["conf_sum"].index_add_(0, bins, conf)
        self._state["correct_sum"].index_add_(0, bins, correct)

    def compute(self) -> dict[str, float | list[list[int]]]:
        n = int(self._value("count").sum())
        if not n:
            return {"ece": float("nan")}
        gap = (self._value("correct_sum") - self._value("conf_sum")).abs().sum()
        return {"ece": float(gap) / n}
