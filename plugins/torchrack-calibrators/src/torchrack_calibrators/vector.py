"""``vector`` calibrator: vector scaling (Guo et al. 2017), ``logits * w + b`` per class.

``w`` and ``b`` (``[K]`` each; ``b`` fixed at 0 with ``bias = false``) are fitted on held-out
logits by minimising their mean negative log-likelihood plus ``l2 * (|w - 1|^2 + |b|^2)`` with
L-BFGS from ``w = 1, b = 0`` (the logits as they are); the objective is convex in ``(w, b)``.
The penalty matters: on a small held-out split that the model gets nearly all right, the NLL
alone keeps falling as ``w`` grows, and the fit becomes far more over-confident than the model
was (``l2 = 0`` turns it off). Unlike temperature scaling it can change which class is predicted,
and it needs more held-out samples per class. A fit never ends with a higher held-out NLL than
the starting point (the penalty is 0 there, so the optimum's NLL is no higher).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from torchrack_calibrators._fit import CalibrationError, check_held_out, minimise_nll, nll


class VectorScaling:
    """``fit(logits [N, K], targets [N]) -> self``; ``calibrator(logits) -> logits * w + b``.

    ``state_dict()`` is ``{"weight": w, "bias": b}`` (float64 ``[K]``); before ``fit`` (or
    ``load_state_dict``) they are empty and the calibrator returns the logits unchanged.
    """

    def __init__(self, bias: bool = True, l2: float = 0.01, max_iter: int = 200) -> None:
        if max_iter < 1:
            raise CalibrationError(f"vector calibrator: max_iter must be >= 1, found {max_iter}")
        if not l2 >= 0:
            raise CalibrationError(f"vector calibrator: l2 must be >= 0, found {l2}")
        self.bias = bool(bias)
        self.l2 = float(l2)
        self.max_iter = int(max_iter)
        self.weight = torch.empty(0, dtype=torch.float64)
        self.offset = torch.empty(0, dtype=torch.float64)

    def fit(self, logits: torch.Tensor, targets: torch.Tensor) -> VectorScaling:
        """Fit ``w`` and ``b`` on held-out ``logits`` and their class indices; return self."""
        check_held_out("vector calibrator", logits, targets)
        z = logits.detach().to(torch.float64)
        y = targets.detach().to(device=z.device, dtype=torch.int64)
        k = int(z.shape[1])
        w = torch.ones(k, dtype=torch.float64, device=z.device, requires_grad=True)
        b = torch.zeros(k, dtype=torch.float64, device=z.device, requires_grad=self.bias)
        params = [w, b] if self.bias else [w]
        def penalty() -> torch.Tensor:
            return self.l2 * (((w - 1) ** 2).sum() + (b**2).sum())

        minimise_nll(params, lambda: z * w + b, y, max_iter=self.max_iter,
                     penalty=penalty if self.l2 else None)
        w_, b_ = w.detach(), b.detach()
        with torch.no_grad():
            finite = bool(torch.isfinite(w_).all()) and bool(torch.isfinite(b_).all())
            if not finite or not math.isfinite(float(nll(z * w_ + b_, y))) \
                    or float(nll(z * w_ + b_, y)) > float(nll(z, y)):
                w_, b_ = torch.ones_like(w_), torch.zeros_like(b_)  # never worse than the start
        self.weight, self.offset = w_.cpu().clone(), b_.cpu().clone()
        return self

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        """The calibrated logits, ``logits * w + b`` (same shape, dtype and device)."""
        if not self.weight.numel():
            return logits.clone()
        if logits.dim() != 2 or logits.shape[1] != self.weight.shape[0]:
            raise CalibrationError(f"vector calibrator: fitted for {self.weight.shape[0]} classes, "
                                   f"given logits {list(logits.shape)}")
        w = self.weight.to(device=logits.device, dtype=logits.dtype)
        b = self.offset.to(device=logits.device, dtype=logits.dtype)
        return logits * w + b

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The fitted parameters: ``{"weight": w, "bias": b}``."""
        return {"weight": self.weight.clone(), "bias": self.offset.clone()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Restore fitted ``w`` and ``b`` from :meth:`state_dict`."""
        w = torch.as_tensor(state["weight"], dtype=torch.float64).detach().cpu().clone()
        b = torch.as_tensor(state["bias"], dtype=torch.float64).detach().cpu().clone()
        if w.dim() != 1 or b.shape != w.shape:
            raise CalibrationError(f"vector calibrator: the state needs weight and bias of one shape "
                                   f"[K], found {list(w.shape)} and {list(b.shape)}")
        self.weight, self.offset = w, b
