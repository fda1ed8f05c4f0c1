"""torchrack-losses: first-party losses, ``(logits [N, K], targets) -> loss []``.

Every loss accepts hard targets ``[N]`` (integer class indices) and soft targets ``[N, K]``
(floating class probabilities, e.g. from mixup or cutmix).
"""

from __future__ import annotations

__all__: list[str] = []
