"""Random draws from a given ``torch.Generator`` only (never the global RNG), except while
``torch.compile`` traces: a ``torch.Generator`` cannot be traced (torch 2.13 graph-breaks on it),
so a compiled step draws from torch's default RNG instead, which the step's caller seeds (the
trainer's ``compile_scope = "step"`` seeds it from the run seed): reproducible run to run."""

from __future__ import annotations

import torch


def traced(generator: torch.Generator | None) -> torch.Generator | None:
    """``generator``, or None (the default RNG) while ``torch.compile`` traces the call."""
    return None if torch.compiler.is_compiling() else generator


def beta_tensor(alpha: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """One draw of Beta(alpha, alpha) as a 0-d float32 tensor on ``device``: ``G1 / (G1 + G2)`` of
    two Gamma(alpha) draws (torch's own sampler), so ``torch.compile`` traces it (no Python loop,
    no ``.tolist()``)."""
    gen = traced(generator)
    if device.type == "meta":
        gen = None  # no values to draw on the meta device
    g = torch._standard_gamma(torch.full((2,), float(alpha), device=device), generator=gen)
    total = g.sum()
    return torch.where(total > 0, g[0] / total, torch.full((), 0.5, device=device))
