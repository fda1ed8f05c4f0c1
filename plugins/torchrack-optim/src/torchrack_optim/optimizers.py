"""Optimizers: each entry point takes its params and returns ``build(param_groups) -> Optimizer``.

The builder is called once per run with the model's trainable parameters (a list of tensors, or
``torch.optim`` parameter-group dicts); its params are checked when the entry point is called, so
a bad value is reported before any model is built. ``sgd``, ``adam``, ``adamw``, ``rmsprop`` and
``adagrad`` are ``torch.optim``'s classes with the same argument names and defaults (except
``sgd``'s ``lr``, 0.1); ``lion`` is :class:`torchrack_optim.lion.Lion`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from torchrack_optim.lion import Lion


class OptimizerBuilder:
    """``build(param_groups)`` -> ``cls(param_groups, **kwargs)``, a ``torch.optim.Optimizer``."""

    def __init__(self, cls: type[torch.optim.Optimizer], **kwargs: Any) -> None:
        self.cls = cls
        self.kwargs = kwargs

    def __call__(self, param_groups: Any) -> torch.optim.Optimizer:
        return self.cls(param_groups, **self.kwargs)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{type(self).__name__}({self.cls.__name__}, {args})"


def _at_least(name: str, who: str, value: float, low: float = 0.0) -> None:
    if not value >= low:  # also refuses NaN
        raise ValueError(f"{who}: {name} must be >= {low}, found {value}")


def _betas(who: str, betas: Sequence[float]) -> tuple[float, float]:
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"{who}: betas must be two numbers in [0, 1), found {list(betas)}")
    return float(betas[0]), float(betas[1])


def sgd(lr: float = 0.1, momentum: float = 0.0, nesterov: bool = False,
        weight_decay: float = 0.0) -> OptimizerBuilder:
    """Stochastic gradient descent with optional (Nesterov) momentum: torch.optim.SGD."""
    for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
        _at_least(name, "sgd", value)
    if nesterov and momentum <= 0:
        raise ValueError(f"sgd: nesterov needs momentum > 0, found momentum {momentum}")
    return OptimizerBuilder(torch.optim.SGD, lr=lr, momentum=momentum, nesterov=nesterov,
                            weight_decay=weight_decay)


def adam(lr: float = 0.001, betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
         weight_decay: float = 0.0, amsgrad: bool = False) -> OptimizerBuilder:
    """Adam (Kingma and Ba 2015), weight decay added to the gradient (L2): torch.optim.Adam."""
    for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
        _at_least(name, "adam", value)
    return OptimizerBuilder(torch.optim.Adam, lr=lr, betas=_betas("adam", betas), eps=eps,
                            weight_decay=weight_decay, amsgrad=amsgrad)


def adamw(lr: float = 0.001, betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
          weight_decay: float = 0.01, amsgrad: bool = False) -> OptimizerBuilder:
    """AdamW (Loshchilov and Hutter 2019), decoupled weight decay: torch.optim.AdamW."""
    for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
        _at_least(name, "adamw", value)
    return OptimizerBuilder(torch.optim.AdamW, lr=lr, betas=_betas("adamw", betas), eps=eps,
                            weight_decay=weight_decay, amsgrad=amsgrad)


def rmsprop(lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8, momentum: float = 0.0,
            centered: bool = False, weight_decay: float = 0.0) -> OptimizerBuilder:
    """RMSprop (Hinton 2012), optionally centered and with momentum: torch.optim.RMSprop."""
    for name, value in (("lr", lr), ("alpha", alpha), ("eps", eps), ("momentum", momentum),
                        ("weight_decay", weight_decay)):
        _at_least(name, "rmsprop", value)
    return OptimizerBuilder(torch.optim.RMSprop, lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                            centered=centered, weight_decay=weight_decay)


def adagrad(lr: float = 0.01, lr_decay: float = 0.0, weight_decay: float = 0.0,
            initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> OptimizerBuilder:
    """Adagrad (Duchi et al. 2011): torch.optim.Adagrad."""
    for name, value in (("lr", lr), ("lr_decay", lr_decay), ("weight_decay", weight_decay),
                        ("initial_accumulator_value", initial_accumulator_value), ("eps", eps)):
        _at_least(name, "adagrad", value)
    return OptimizerBuilder(torch.optim.Adagrad, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                            initial_accumulator_value=initial_accumulator_value, eps=eps)


def lion(lr: float = 1e-4, betas: Sequence[float] = (0.9, 0.99),
         weight_decay: float = 0.0) -> OptimizerBuilder:
    """Lion (Chen et al. 2023), sign of interpolated momentum, decoupled weight decay."""
    for name, value in (("lr", lr), ("weight_decay", weight_decay)):
        _at_least(name, "lion", value)
    return OptimizerBuilder(Lion, lr=lr, betas=_betas("lion", betas), weight_decay=weight_decay)
