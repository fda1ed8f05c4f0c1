"""``temperature`` calibrator: temperature scaling (Guo et al. 2017), ``logits / T``.

``T`` > 0 is fitted on held-out logits by minimising their negative log-likelihood with L-BFGS
over ``log T`` (so ``T`` stays positive), starting from ``init``. The NLL is convex in ``1/T``, so
the minimum found is the only one; when the held-out predictions are all right, it lies at
``T -> 0``, and ``T`` shrinks until the NLL stops changing, never below ``t_min`` (nor above
``t_max``). A fit never ends with a higher NLL than ``T = 1`` (the
logits as they are): should L-BFGS fail to improve on it, ``T`` is 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from torchrack_calibrators._fit import CalibrationError, check_held_out, minimise_nll, nll


class TemperatureScaling:
    """``fit(logits [N, K], targets [N]) -> self``; ``calibrator(logits) -> logits / T``.

    ``state_dict()`` is ``{"temperature": T}`` (a 0-dim float64 tensor); before ``fit`` (or
    ``load_state_dict``) ``T`` is 1 and the calibrator returns the logits unchanged.
    """

    def __init__(self, init: float = 1.0, max_iter: int = 100, t_min: float = 1e-3,
                 t_max: float = 1e3) -> None:
        if not 0.0 < t_min <= init <= t_max:
            raise CalibrationError(f"temperature calibrator: need 0 < t_min <= init <= t_max, found "
                                   f"t_min {t_min}, init {init}, t_max {t_max}")
        if max_iter < 1:
            raise CalibrationError(f"temperature calibrator: max_iter must be >= 1, found {max_iter}")
        self.init = float(init)
        self.max_iter = int(max_iter)
        self.t_min = float(t_min)
        self.t_max = float(t_max)
        self.temperature = torch.ones((), dtype=torch.float64)

    def fit(self, logits: torch.Tensor, targets: torch.Tensor) -> TemperatureScaling:
        """Fit ``T`` on held-out ``logits`` and their class indices ``targets``; return self."""
        check_held_out("temperature calibrator", logits, targets)
        z = logits.detach().to(torch.float64)
        y = targets.detach().to(device=z.device, dtype=torch.int64)
        log_t = torch.tensor(math.log(self.init), dtype=torch.float64, device=z.device,
                             requires_grad=True)
        minimise_nll([log_t], lambda: z * torch.exp(-log_t), y, max_iter=self.max_iter)
        found = float(log_t.detach())
        t = math.exp(min(max(found, math.log(self.t_min)), math.log(self.t_max))) \
            if math.isfinite(found) else 1.0
        with torch.no_grad():
            if float(nll(z / t, y)) > float(nll(z, y)):
                t = 1.0  # never worse than the logits as they are
        self.temperature = torch.tensor(t, dtype=torch.float64)
        return self

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """The calibrated logits, ``logits / T`` (same shape, dtype and device)."""
        return logits / self.temperature.to(device=logits.device, dtype=logits.dtype)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The fitted parameter: ``{"temperature": T}``."""
        return {"temperature": self.temperature.clone()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore a fitted ``T`` from :meth:`state_dict`."""
        t = torch.as_tensor(state["temperature"], dtype=torch.float64).detach().cpu().clone()
        if t.dim() != 0 or not float(t) > 0 or not math.isfinite(float(t)):
            raise CalibrationError(f"temperature calibrator: the state's temperature must be one "
                                   f"positive finite number, found {t.tolist()}")
        self.temperature = t
