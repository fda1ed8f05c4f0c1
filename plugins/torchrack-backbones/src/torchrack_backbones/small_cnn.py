"""``small_cnn`` backbone: conv-norm-relu blocks with 2x2 max pooling, then global average pooling."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from torchrack_backbones._norm import make_norm


class SmallCNN(nn.Module):
    """One block per width: ``relu(norm(conv3x3(x)))`` then ``maxpool2x2`` (ceil mode, so spatial
    sizes never reach zero); finally ``features = mean_{h,w} x`` (global average pooling).

    ``pool_after`` (0-based block indices) puts the 2x2 max pooling after those blocks only (None:
    after every block); e.g. ``widths = [64, 128, 128, 256, 256]``, ``pool_after = [1, 3]`` is
    the CIFAR net conv-bn-relu 64, 128, pool, 128, 256, pool, 256, global pool.

    ``features [N, F]`` with ``F = widths[-1]``; ``pool=False`` keeps the last feature map
    ``[N, F, h, w]`` (for an adapter, e.g. torchrack-adapters' ``global_pool``, or a dense head). Works with channels_last inputs: every layer is
    layout-agnostic and the pooling reduces over the spatial dims.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        widths: Sequence[int] = (32, 64),
        norm: str = "batch",
        pool: bool = True,
        pool_after: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.pool = bool(pool)
        if not widths:
            raise ValueError("small_cnn backbone: 'widths' needs at least one width")
        pooled = set(range(len(widths))) if pool_after is None else {int(i) for i in pool_after}
        bad = sorted(i for i in pooled if not 0 <= i < len(widths))
        if bad:
            raise ValueError(f"small_cnn backbone: pool_after {bad} must be block indices 0..{len(widths) - 1} "
                             f"(one block per width, {len(widths)} widths)")
        self.pool_after = None if pool_after is None else sorted(pooled)
        layers: list[nn.Module] = []
        c = in_channels
        for i, w in enumerate(widths):
            layers += [
                nn.Conv2d(c, int(w), 3, padding=1, bias=norm == "none"),
                make_norm(norm, int(w)),
                nn.ReLU(inplace=True),
            ]
            if i in pooled:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            c = int(w)
        self.layers = nn.Sequential(*layers)
        self.in_channels = in_channels
        self.out_features = c

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x: torch.Tensor = self.layers(inputs)
        return x.mean(dim=(2, 3)) if self.pool else x
