"""Lion (EvoLved Sign Momentum), from Chen et al. 2023, "Symbolic Discovery of Optimization
Algorithms" (arXiv:2302.06675), Program 1, written from the published update rule.

Per parameter ``p`` with gradient ``g`` and momentum ``m`` (zero at the start):

    c = beta1 * m + (1 - beta1) * g          # the update direction interpolates m and g
    p = p - lr * (sign(c) + weight_decay * p)
    m = beta2 * m + (1 - beta2) * g          # the momentum tracks g more slowly (beta2 > beta1)

Every coordinate moves by exactly ``lr`` (plus decay), so Lion wants a learning rate 3-10x smaller
than AdamW's and a weight decay as many times larger, for the same effective strength.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch


class Lion(torch.optim.Optimizer):
    """``Lion(params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0)``, a ``torch.optim.Optimizer``.

    One state tensor per parameter (``exp_avg``, the momentum ``m``), so Lion holds half the state
    of Adam. Sparse gradients are refused.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-4,
        betas: Sequence[float] = (0.9, 0.99),
        weight_decay: float = 0.0,
    ) -> None:
        if not lr >= 0.0:
            raise ValueError(f"lion: lr must be >= 0, found {lr}")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"lion: betas must be two numbers in [0, 1), found {list(betas)}")
        if not weight_decay >= 0.0:
            raise ValueError(f"lion: weight_decay must be >= 0, found {weight_decay}")
        defaults = {"lr": lr, "betas": (float(betas[0]), float(betas[1])), "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One update of every parameter that has a gradient; returns ``closure()`` when given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, weight_decay = group["lr"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise RuntimeError("lion does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                exp_avg = state["exp_avg"]
                direction = exp_avg.mul(beta1).add_(grad, alpha=1.0 - beta1).sign_()
                if weight_decay:
                    direction.add_(p, alpha=weight_decay)
                p.add_(direction, alpha=-lr)
                exp_avg.mul_(beta2).add_(grad, alpha=1.0 - beta2)
        return loss
