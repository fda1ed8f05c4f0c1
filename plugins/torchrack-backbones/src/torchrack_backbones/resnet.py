"""``resnet`` backbone: the CIFAR-style ResNet of He et al. (2016), depth ``6n + 2``.

Three stages of ``n`` basic blocks with ``width``, ``2*width`` and ``4*width`` channels (strides 1,
2, 2); each block computes ``y = relu(x' + norm(conv(relu(norm(conv(x))))))`` with ``x'`` the
identity or a 1x1 strided projection. ``features [N, 4*width]`` after global average pooling.
"""

from __future__ import annotations

import torch
from torch import nn

from torchrack_backbones._norm import make_norm


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (projection when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int, norm: str) -> None:
        super().__init__()
        bias = norm == "none"
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)
        self.norm1 = make_norm(norm, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=bias)
        self.norm2 = make_norm(norm, cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=bias), make_norm(norm, cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        y: torch.Tensor = self.relu(out + self.shortcut(x))
        return y


class ResNet(nn.Module):
    """CIFAR ResNet-``depth`` (``depth = 6n + 2``: 8, 14, 20, 32, 44, 56, 110, ...).

    ``norm`` picks ``"batch"`` (the paper), ``"group"`` or ``"none"`` (no running statistics, for
    exact DDP parity). Without normalisation the second convolution of each block is scaled by
    ``1/sqrt(number of blocks)`` at init so that the residual sum keeps its scale.
    """

    def __init__(
        self, *, in_channels: int = 3, depth: int = 20, width: int = 16, norm: str = "batch"
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"resnet depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, ...), found {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=norm == "none"),
            make_norm(norm, width),
            nn.ReLU(inplace=True),
        )
        blocks: list[nn.Module] = []
        cin = width
        for stage, cout in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                blocks.append(BasicBlock(cin, cout, 2 if stage > 0 and i == 0 else 1, norm))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.in_channels = in_channels
        self.depth = depth
        self.out_features = 4 * width
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if norm == "none":
            with torch.no_grad():
                for b in blocks:
                    assert isinstance(b, BasicBlock)
                    b.conv2.weight.mul_(len(blocks) ** -0.5)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x: torch.Tensor = self.blocks(self.stem(inputs))
        return x.mean(dim=(2, 3))
