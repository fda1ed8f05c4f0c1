"""Random draws from a given ``torch.Generator`` only (never the global RNG), except while
``torch.compile`` traces: a ``torch.Generator`` cannot be traced (torch 2.13 graph-breaks on it),
so a compiled step draws from torch's default RNG instead, which the step's caller seeds (the
trainer's ``compile_scope = "step"`` seeds it from the run seed): reproducible run to run."""

from __future__ import annotations

import math

import torch


def traced(generator: torch.Generator | None) -> torch.Generator | None:
    """``generator``, or None (the default RNG) while ``torch.compile`` traces the call."""
    return None if torch.compiler.is_compiling() else generator


def scalars(generator: torch.Generator, count: int) -> list[float]:
    """``count`` uniform [0, 1) floats drawn on the generator's own device."""
    return torch.rand(count, generator=generator, device=generator.device).tolist()


def _gamma(shape: float, generator: torch.Generator) -> float:
    # Marsaglia & Tsang (2000), "A simple method for generating gamma variables"; shape < 1 is
    # boosted: Gamma(a) = Gamma(a + 1) * U ** (1 / a).
    boost = 1.0
    if shape < 1.0:
        u = scalars(generator, 1)[0]
        boost = max(u, 1e-12) ** (1.0 / shape)
        shape += 1.0
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        normals = torch.randn(16, generator=generator, device=generator.device).tolist()
        uniforms = scalars(generator, 16)
        for z, u in zip(normals, uniforms, strict=True):
            v = (1.0 + c * z) ** 3
            if v > 0 and u > 0 and math.log(u) < 0.5 * z * z + d - d * v + d * math.log(v):
                return d * v * boost


def beta(alpha: float, generator: torch.Generator) -> float:
    """One draw of Beta(alpha, alpha), as mixup and cutmix use."""
    a = _gamma(alpha, generator)
    b = _gamma(alpha, generator)
    return a / (a + b) if a + b > 0 else 0.5
