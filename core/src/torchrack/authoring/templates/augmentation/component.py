"""``__NAME__`` augmentation: invert images (1 - x) with probability ``p``, per sample."""

from __future__ import annotations

import torch
from torch import Tensor


class __CLASS__:
    """``aug(inputs [N, C, H, W], targets, generator=None) -> (inputs, targets)``.

    Random numbers come only from ``generator`` (which lives on the batch's device) or, without
    one, from this augmentation's own generator seeded by ``seed``: never from the global RNG.
    The inputs are never changed in place.
    """

    def __init__(self, p: float = 0.5, seed: int | None = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"__NAME__ augmentation: p must be in [0, 1], found {p}")
        self.p = p
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def _own_generator(self, device: torch.device) -> torch.Generator:
        if device.type == "meta":  # a meta batch has no values: draw on the CPU
            device = torch.device("cpu")
        gen = self._generators.get(device)
        if gen is None:
            gen = torch.Generator(device=device)
            if self.seed is None:
                gen.seed()
            else:
                gen.manual_seed(self.seed)
            self._generators[device] = gen
        return gen

    def __call__(
        self, inputs: Tensor, targets: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        gen = generator if generator is not None else self._own_generator(inputs.device)
        flags = torch.rand(inputs.shape[0], generator=gen, device=gen.device) < self.p
        flags = flags.to(inputs.device).view(-1, *([1] * (inputs.dim() - 1)))
        return torch.where(flags, 1.0 - inputs, inputs), targets
