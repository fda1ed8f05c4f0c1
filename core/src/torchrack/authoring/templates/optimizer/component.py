"""``__NAME__`` optimizer: signSGD with momentum (Bernstein et al. 2018): every coordinate moves
by ``lr`` against the sign of its (averaged) gradient."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class __CLASS__:
    """The entry point: ``__CLASS__(**params)`` checks the params and is the builder a run calls,
    ``build(param_groups) -> torch.optim.Optimizer``."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
            if not value >= 0:
                raise ValueError(f"__NAME__ optimizer: {name} must be >= 0, found {value}")
        if momentum >= 1:
            raise ValueError(f"__NAME__ optimizer: momentum must be < 1, found {momentum}")
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay

    def __call__(self, param_groups: Iterable[Any]) -> torch.optim.Optimizer:
        return SignDescent(param_groups, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)


class SignDescent(torch.optim.Optimizer):
    """``p -= lr * (sign(m) + weight_decay * p)`` with ``m = momentum * m + (1 - momentum) * g``."""

    def __init__(self, params: Iterable[Any], lr: float, momentum: float, weight_decay: float) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                direction = p.grad
                if group["momentum"]:
                    state = self.state[p]
                    if "momentum_buffer" not in state:  # kept in state: state_dict() saves it
                        state["momentum_buffer"] = torch.zeros_like(p)
                    buf = state["momentum_buffer"]
                    buf.mul_(group["momentum"]).add_(p.grad, alpha=1 - group["momentum"])
                    direction = buf
                update = direction.sign()
                if group["weight_decay"]:
                    update.add_(p, alpha=group["weight_decay"])
                p.add_(update, alpha=-group["lr"])
        return loss
