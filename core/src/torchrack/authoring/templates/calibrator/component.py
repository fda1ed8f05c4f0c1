"""``__NAME__`` calibrator: temperature scaling, ``logits / T``, with ``T`` fitted by golden-section
search on ``log T`` for the least negative log-likelihood on a held-out split."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


class __CLASS__:
    """``fit(logits [N, K], targets [N]) -> self``, then ``calibrator(logits) -> logits / T``.

    The state (``state_dict()``) is the fitted temperature, a 0-dim float64 tensor; before
    ``fit`` it is 1 (the calibrator leaves the logits as they are).
    """

    def __init__(self, t_min: float = 0.05, t_max: float = 20.0, iterations: int = 60) -> None:
        if not 0.0 < t_min < t_max:
            raise ValueError(f"__NAME__ calibrator: need 0 < t_min < t_max, found {t_min} and {t_max}")
        if iterations < 1:
            raise ValueError(f"__NAME__ calibrator: iterations must be >= 1, found {iterations}")
        self.t_min = t_min
        self.t_max = t_max
        self.iterations = iterations
        self.temperature = torch.ones((), dtype=torch.float64)

    @torch.no_grad()
    def fit(self, logits: torch.Tensor, targets: torch.Tensor) -> __CLASS__:
        z = logits.detach().to(torch.float64)
        y = targets.to(z.device)

        def nll(log_t: float) -> float:
            return float(F.cross_entropy(z / math.exp(log_t), y))

        lo, hi = math.log(self.t_min), math.log(self.t_max)
        a, b = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
        fa, fb = nll(a), nll(b)
        for _ in range(self.iterations):  # NLL is convex in 1/T: the bracket keeps the minimum
            if fa <= fb:
                hi, b, fb = b, a, fa
                a = hi - _GOLDEN * (hi - lo)
                fa = nll(a)
            else:
                lo, a, fa = a, b, fb
                b = lo + _GOLDEN * (hi - lo)
                fb = nll(b)
        self.temperature = torch.tensor(math.exp((lo + hi) / 2.0), dtype=torch.float64)
        return self

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        return logits / self.temperature.to(device=logits.device, dtype=logits.dtype)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"temperature": self.temperature.clone()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        self.temperature = torch.as_tensor(state["temperature"], dtype=torch.float64).clone()
