"""torchrack-heads: first-party classification heads, ``features [N, F] -> logits [N, K]``."""

from __future__ import annotations

__all__: list[str] = []
