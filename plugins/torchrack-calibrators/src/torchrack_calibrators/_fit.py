"""What the calibrators share: checking the held-out data, and minimising the NLL with L-BFGS."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


class CalibrationError(ValueError):
    """Logits or targets that a calibrator cannot be fitted on (or applied to); says which."""


def check_held_out(who: str, logits: torch.Tensor, targets: torch.Tensor) -> None:
    """Raise :class:`CalibrationError` unless ``logits`` is ``[N, K]`` floating and ``targets``
    ``[N]`` class indices in ``[0, K)``, with ``N`` >= 1."""
    if logits.dim() != 2 or not logits.is_floating_point():
        raise CalibrationError(f"{who}: fit() needs logits [N, K] of a floating dtype, found "
                               f"{list(logits.shape)} {str(logits.dtype).removeprefix('torch.')}")
    if targets.dim() != 1 or targets.shape[0] != logits.shape[0] or targets.is_floating_point():
        raise CalibrationError(f"{who}: fit() needs targets [N] of class indices for logits "
                               f"{list(logits.shape)}, found {list(targets.shape)} "
                               f"{str(targets.dtype).removeprefix('torch.')}")
    if logits.shape[0] == 0:
        raise CalibrationError(f"{who}: fit() needs at least one held-out sample, found none")
    k = int(logits.shape[1])
    if int(targets.min()) < 0 or int(targets.max()) >= k:
        raise CalibrationError(f"{who}: targets must lie in [0, {k}) for {k} classes, found "
                               f"[{int(targets.min())}, {int(targets.max())}]")
    if not bool(torch.isfinite(logits).all()):
        raise CalibrationError(f"{who}: fit() needs finite logits; some are NaN or infinite")


def nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of ``targets`` under ``softmax(logits)`` (a 0-dim tensor)."""
    return F.cross_entropy(logits, targets)


def minimise_nll(params: Sequence[torch.Tensor], calibrated: Callable[[], torch.Tensor],
                 targets: torch.Tensor, *, max_iter: int,
                 penalty: Callable[[], torch.Tensor] | None = None) -> float:
    """Minimise ``nll(calibrated(), targets)`` (plus ``penalty()``, when given) over ``params``
    (leaf tensors with ``requires_grad``) with L-BFGS and a strong-Wolfe line search; return the
    final NLL (without the penalty).

    Deterministic: L-BFGS draws no random number, and the same inputs take the same steps.
    """
    optimizer = torch.optim.LBFGS(list(params), lr=1.0, max_iter=max_iter, history_size=20,
                                  tolerance_grad=1e-12, tolerance_change=1e-15,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = nll(calibrated(), targets)
        if penalty is not None:
            loss = loss + penalty()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    with torch.enable_grad():
        optimizer.step(closure)  # type: ignore[no-untyped-call]
        with torch.no_grad():
            return float(nll(calibrated(), targets))
