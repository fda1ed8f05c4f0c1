"""Target handling shared by the losses: hard ``[N]`` integer or soft ``[N, K]`` floating."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def is_soft(logits: torch.Tensor, targets: torch.Tensor, who: str) -> bool:
    """True for soft targets ``[N, K]`` floating, False for hard ``[N]`` integer; else a ValueError."""
    if logits.dim() != 2:
        raise ValueError(f"{who}: logits must be [N, K], found shape {list(logits.shape)}")
    if targets.dim() == 1 and not targets.is_floating_point() and targets.dtype != torch.bool:
        if targets.shape[0] != logits.shape[0]:
            raise ValueError(f"{who}: {targets.shape[0]} targets for {logits.shape[0]} rows of logits")
        return False
    if targets.is_floating_point() and targets.shape == logits.shape:
        return True
    raise ValueError(
        f"{who}: targets must be hard [N] integer class indices or soft [N, K] floating "
        f"probabilities matching logits {list(logits.shape)}; found {targets.dtype} of shape "
        f"{list(targets.shape)}"
    )


def as_probs(logits: torch.Tensor, targets: torch.Tensor, who: str) -> torch.Tensor:
    """Targets as ``[N, K]`` probabilities in the logits' dtype (hard targets one-hot encoded)."""
    if is_soft(logits, targets, who):
        return targets.to(logits.dtype)
    return F.one_hot(targets.long(), logits.shape[1]).to(logits.dtype)


def class_vector(
    values: float | Sequence[float] | None, logits: torch.Tensor, who: str, what: str
) -> torch.Tensor | None:
    """A per-class list as a ``[K]`` tensor on the logits' device and dtype (None stays None)."""
    if values is None:
        return None
    t = torch.as_tensor(values, dtype=logits.dtype, device=logits.device)
    if t.dim() == 1 and t.shape[0] != logits.shape[1]:
        raise ValueError(f"{who}: {what} has {t.shape[0]} entries for {logits.shape[1]} classes")
    return t
