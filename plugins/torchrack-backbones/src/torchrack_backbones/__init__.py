"""torchrack-backbones: first-party feature extractors for torchrack.

Every backbone is an ``nn.Module`` mapping ``inputs [N, C, H, W]`` to ``features [N, F]`` and exposing
``out_features == F``. Components are imported by torchrack only when a run uses them, so this
module imports nothing heavy.
"""

from __future__ import annotations

__all__: list[str] = []
