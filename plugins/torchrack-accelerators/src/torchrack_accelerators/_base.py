"""What the accelerators share: param checks, the channels_last input wrapper, compile, precision.

An accelerator object is built from the config's params (constructors only check them: no CUDA
call, no process group, no change of global state), asked ``is_available()`` (never raises; the
reason for "no" is in ``unavailable_reason``), then ``setup()`` once and ``teardown()`` once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16", "fp16")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
#: What torch.compile covers: the model alone, or the whole training step as one graph (the
#: trainer of torchrack-runs compiles it; see its _whole_step module).
COMPILE_SCOPES = ("model", "step")

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class AcceleratorParamError(ValueError):
    """An accelerator param has a value it cannot use; the message names the param and the choices."""


def check_choice(who: str, name: str, value: Any, choices: Sequence[Any]) -> Any:
    if value not in choices:
        raise AcceleratorParamError(
            f"{who}: {name} must be one of {', '.join(repr(c) for c in choices)}, found {value!r}"
        )
    return value


def check_bool(who: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise AcceleratorParamError(f"{who}: {name} must be true or false, found {value!r}")
    return value


def check_int(who: str, name: str, value: Any, low: int, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        what = f"an integer >= {low}" + (" or null" if optional else "")
        raise AcceleratorParamError(f"{who}: {name} must be {what}, found {value!r}")
    return value


def check_number(who: str, name: str, value: Any, low: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > low:
        raise AcceleratorParamError(f"{who}: {name} must be a number > {low}, found {value!r}")
    return float(value)


class ChannelsLastInput(nn.Module):
    """Calls ``module`` on ``inputs`` converted to the channels_last memory format.

    The conversion sits inside the module so that ``torch.compile`` fuses it with the first
    convolution; the wrapped module's own weights are converted by :func:`place_model`.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, inputs: torch.Tensor) -> Any:
        if inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return self.module(inputs)


def place_model(model: nn.Module, device: torch.device, channels_last: bool) -> nn.Module:
    """Move ``model`` to ``device`` (and its 4-d weights to channels_last), in place."""
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def finish_model(module: nn.Module, *, channels_last: bool, compile: bool, compile_mode: str) -> Any:
    """Wrap the placed (maybe DDP-wrapped) module: channels_last inputs, then torch.compile."""
    out: Any = ChannelsLastInput(module) if channels_last else module
    if compile:
        out = torch.compile(out, mode=None if compile_mode == "default" else compile_mode)
    return out


def autocast_context(device_type: str, precision: str) -> Any:
    """A fresh autocast context for ``precision`` (a null context for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=_DTYPES[precision])


def grad_scaler(device_type: str, precision: str) -> Any:
    """A gradient scaler for fp16; None otherwise (bf16 has fp32's exponent range)."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device_type)


def backward_and_step(loss: torch.Tensor, optimizer: Any, scaler: Any, scale: float = 1.0) -> None:
    """``loss.backward()`` (times ``scale``), then ``optimizer.step()``, through ``scaler`` if any."""
    if scale != 1.0:
        loss = loss * scale
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def backward_only(loss: torch.Tensor, scaler: Any, scale: float = 1.0) -> None:
    """``loss.backward()`` (times ``scale``, through ``scaler`` if any), gradients accumulated."""
    if scale != 1.0:
        loss = loss * scale
    if scaler is None:
        loss.backward()
    else:
        scaler.scale(loss).backward()


def step_only(optimizer: Any, scaler: Any) -> None:
    """``optimizer.step()`` after :func:`backward_only` calls, through ``scaler`` if any."""
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()


def torch_build() -> str:
    """``torch 2.13.0+cpu (no CUDA)`` or ``torch 2.13.0 (CUDA 12.8)``: for unavailable reasons."""
    cuda = torch.version.cuda
    return f"torch {torch.__version__} " + (f"(CUDA {cuda})" if cuda else "(built without CUDA)")


def cuda_problem(index: int, precision: str = "fp32") -> str | None:
    """Why CUDA device ``index`` cannot run ``precision`` here, or None when it can. Never raises."""
    try:
        if not torch.cuda.is_available():
            if torch.version.cuda is None:
                return f"{torch_build()} cannot use a GPU; install a CUDA build of torch"
            return f"{torch_build()} sees no CUDA device (driver missing, or CUDA_VISIBLE_DEVICES empty)"
        count = torch.cuda.device_count()
        if index >= count:
            return f"device_index {index} asked for, but only {count} CUDA device(s) are visible"
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            cap = ".".join(map(str, torch.cuda.get_device_capability(index)))
            return (f"precision 'bf16' needs a GPU with bf16 support (compute capability >= 8.0); "
                    f"{torch.cuda.get_device_name(index)} has {cap}: use 'fp16' or 'fp32'")
    except Exception as exc:  # noqa: BLE001 - is_available() must never raise
        return f"CUDA could not be queried: {type(exc).__name__}: {exc}"
    return None


def gpu_description(index: int) -> dict[str, Any]:
    """Name, compute capability and memory of CUDA device ``index``, for the run record."""
    try:
        props = torch.cuda.get_device_properties(index)
        return {"gpu": props.name, "capability": f"{props.major}.{props.minor}",
                "gpu_memory_gib": round(props.total_memory / 2**30, 1), "cuda": torch.version.cuda}
    except Exception as exc:  # noqa: BLE001 - describe() is for the record; never fail a run on it
        return {"gpu": None, "gpu_error": f"{type(exc).__name__}: {exc}"}


#: Largest share of the free GPU memory a whole dataset split may take to be moved there once.
DATA_MEMORY_SHARE = 0.4


def place_split(inputs: torch.Tensor, targets: torch.Tensor,
                device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A whole split moved to the GPU ``device`` once, when it fits; else left as it is."""
    size = inputs.numel() * inputs.element_size() + targets.numel() * targets.element_size()
    try:
        free, _ = torch.cuda.mem_get_info(device)
    except Exception:  # noqa: BLE001 - no estimate: keep the data on the host
        return inputs, targets
    if size > DATA_MEMORY_SHARE * free:
        return inputs, targets
    return inputs.to(device), targets.to(device)


def to_device(t: torch.Tensor, device: torch.device, non_blocking: bool) -> torch.Tensor:
    """``t`` on ``device``; host tensors go through pinned memory when ``non_blocking``."""
    if t.device == device:
        return t
    if non_blocking and device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)
