"""torchrack-adapters: shape adapters between a backbone's output and a head's input."""

from __future__ import annotations

__all__: list[str] = []
