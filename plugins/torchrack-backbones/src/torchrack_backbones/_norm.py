"""Normalisation layers chosen by name, shared by the convolutional backbones."""

from __future__ import annotations

import math

from torch import nn

NORMS = ("batch", "group", "none")


def make_norm(kind: str, channels: int) -> nn.Module:
    """``"batch"`` -> BatchNorm2d, ``"group"`` -> GroupNorm(gcd(channels, 8)), ``"none"`` -> Identity.

    GroupNorm keeps no running statistics, so a model built with ``"group"`` or ``"none"`` computes
    the same function on every process and batch split (what DDP parity tests need).
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, 8), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, found {kind!r}")
