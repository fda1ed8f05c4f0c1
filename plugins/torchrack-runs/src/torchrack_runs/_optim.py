"""Built-in adapter for torch.optim optimizers and LR schedulers, with params schemas.

Configs name optimizers and schedulers like components (``{name = "sgd", params = {...}}``); this
table maps each name to its torch class and a JSON Schema of its params, so static validation
needs no torch import. Schedulers are stepped once per epoch.
"""

from __future__ import annotations

from typing import Any

_NUM = {"type": "number", "minimum": 0}

#: name -> (torch.optim class name, params schema)
OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("SGD", {
        "type": "object", "additionalProperties": False,
        "properties": {
            "lr": {**_NUM, "default": 0.1},
            "momentum": {**_NUM, "default": 0.0},
            "nesterov": {"type": "boolean", "default": False},
            "weight_decay": {**_NUM, "default": 0.0},
        },
    }),
    "adam": ("Adam", {
        "type": "object", "additionalProperties": False,
        "properties": {
            "lr": {**_NUM, "default": 0.001},
            "betas": {"type": "array", "items": _NUM, "minItems": 2, "maxItems": 2,
                      "default": [0.9, 0.999]},
            "weight_decay": {**_NUM, "default": 0.0},
        },
    }),
    "adamw": ("AdamW", {
        "type": "object", "additionalProperties": False,
        "properties": {
            "lr": {**_NUM, "default": 0.001},
            "betas": {"type": "array", "items": _NUM, "minItems": 2, "maxItems": 2,
                      "default": [0.9, 0.999]},
            "weight_decay": {**_NUM, "default": 0.01},
        },
    }),
    "rmsprop": ("RMSprop", {
        "type": "object", "additionalProperties": False,
        "properties": {
            "lr": {**_NUM, "default": 0.01},
            "momentum": {**_NUM, "default": 0.0},
            "weight_decay": {**_NUM, "default": 0.0},
        },
    }),
}

#: name -> (torch.optim.lr_scheduler class name or None, params schema)
SCHEDULERS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "constant": (None, {"type": "object", "additionalProperties": False, "properties": {}}),
    "step": ("StepLR", {
        "type": "object", "additionalProperties": False,
        "properties": {
            "step_size": {"type": "integer", "minimum": 1, "default": 10},
            "gamma": {**_NUM, "default": 0.1},
        },
    }),
    "multistep": ("MultiStepLR", {
        "type": "object", "additionalProperties": False,
        "properties": {
            "milestones": {"type": "array", "items": {"type": "integer", "minimum": 1},
                           "default": [30, 60]},
            "gamma": {**_NUM, "default": 0.1},
        },
    }),
    "cosine": ("CosineAnnealingLR", {
        "type": "object", "additionalProperties": False,
        "properties": {
            "T_max": {"type": ["integer", "null"], "minimum": 1, "default": None,
                      "description": "epochs of one cosine half-period (default: run.epochs)"},
            "eta_min": {**_NUM, "default": 0.0},
        },
    }),
    "exponential": ("ExponentialLR", {
        "type": "object", "additionalProperties": False,
        "properties": {"gamma": {**_NUM, "default": 0.95}},
    }),
}


def build_optimizer(name: str, params: dict[str, Any], parameters: Any) -> Any:
    """A torch optimizer ``name`` over ``parameters`` (only those requiring grad)."""
    import torch

    cls = getattr(torch.optim, OPTIMIZERS[name][0])
    kwargs = dict(params)
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    return cls([p for p in parameters if p.requires_grad], **kwargs)


def build_scheduler(name: str, params: dict[str, Any], optimizer: Any, epochs: int) -> Any:
    """A torch LR scheduler ``name`` (None for ``constant``), stepped once per epoch."""
    import torch

    cls_name = SCHEDULERS[name][0]
    if cls_name is None:
        return None
    kwargs = dict(params)
    if name == "cosine" and kwargs.get("T_max") is None:
        kwargs["T_max"] = epochs
    return getattr(torch.optim.lr_scheduler, cls_name)(optimizer, **kwargs)
