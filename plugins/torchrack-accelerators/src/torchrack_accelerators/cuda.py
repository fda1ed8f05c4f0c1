"""``cuda``: one GPU, with mixed precision, channels_last, torch.compile and on-device data.

The tuned loop of a convolutional network on a recent GPU is reachable from a config::

    [accelerator]
    name = "cuda"
    params = { precision = "bf16", channels_last = true, compile = true, compile_mode = "reduce-overhead" }

``compile_mode = "reduce-overhead"`` captures the compiled forward and backward in CUDA graphs.
Augmentations run on the GPU: the trainer applies them after ``prepare_batch`` moved the batch.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torchrack.accelerator import SingleProcessAccelerator

from torchrack_accelerators._base import (
    COMPILE_MODES,
    COMPILE_SCOPES,
    PRECISIONS,
    autocast_context,
    backward_and_step,
    backward_only,
    check_bool,
    check_choice,
    check_int,
    cuda_problem,
    finish_model,
    gpu_description,
    grad_scaler,
    place_model,
    place_split,
    step_only,
    to_device,
)

#: ``data_on_device`` keeps a split on the GPU only while it takes at most this share of free memory.


class CUDAAccelerator(SingleProcessAccelerator):
    """One CUDA device (``device_index``).

    - ``precision``: "fp32"; "bf16" (autocast to bfloat16); "fp16" (autocast to float16 with a
      ``torch.amp.GradScaler``);
    - ``channels_last``: weights and inputs in the NHWC memory format (tensor cores like it);
    - ``compile`` / ``compile_mode``: ``torch.compile`` the model ("default", "reduce-overhead":
      CUDA graphs, "max-autotune");
    - ``compile_scope``: "model" (the default: ``compile`` covers the model) or "step" (the
      trainer compiles the whole training step as one graph with ``compile_mode``, whether or not
      ``compile`` is set; "reduce-overhead" captures it in a CUDA graph);
    - ``non_blocking``: host-to-device copies from pinned memory, asynchronous;
    - ``data_on_device``: move each in-memory split to the GPU once, so batches are gathered there
      (skipped for a split larger than 40% of free GPU memory);
    - ``cudnn_benchmark``: let cuDNN pick the fastest convolution algorithms (set
      ``run.deterministic = false`` too for full speed: deterministic algorithms are slower).
    """

    name = "cuda"
    distributed = False

    def __init__(
        self,
        *,
        device_index: int = 0,
        precision: str = "fp32",
        channels_last: bool = False,
        compile: bool = False,
        compile_mode: str = "default",
        compile_scope: str = "model",
        non_blocking: bool = True,
        data_on_device: bool = True,
        cudnn_benchmark: bool = True,
    ) -> None:
        who = "cuda accelerator"
        index = check_int(who, "device_index", device_index, 0)
        assert index is not None
        self.device_index = index
        self.precision = check_choice(who, "precision", precision, PRECISIONS)
        self.channels_last = check_bool(who, "channels_last", channels_last)
        self.compile = check_bool(who, "compile", compile)
        self.compile_mode = check_choice(who, "compile_mode", compile_mode, COMPILE_MODES)
        self.compile_scope = check_choice(who, "compile_scope", compile_scope, COMPILE_SCOPES)
        self.non_blocking = check_bool(who, "non_blocking", non_blocking)
        self.data_on_device = check_bool(who, "data_on_device", data_on_device)
        self.cudnn_benchmark = check_bool(who, "cudnn_benchmark", cudnn_benchmark)
        self.device = torch.device("cuda", index)
        self.unavailable_reason: str | None = None
        self._scaler: Any = None
        self._previous_benchmark: bool | None = None

    def is_available(self) -> bool:
        self.unavailable_reason = cuda_problem(self.device_index, self.precision)
        return self.unavailable_reason is None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name, "device": str(self.device), "precision": self.precision,
            "channels_last": self.channels_last, "compile": self.compile,
            "compile_mode": self.compile_mode if self.compile or self.compile_scope == "step" else None,
            **({"compile_scope": self.compile_scope} if self.compile_scope != "model" else {}),
            "non_blocking": self.non_blocking, "data_on_device": self.data_on_device,
            "cudnn_benchmark": self.cudnn_benchmark, "world_size": 1,
            **gpu_description(self.device_index),
        }

    def setup(self) -> None:
        torch.cuda.set_device(self.device)
        self._previous_benchmark = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        self._scaler = grad_scaler("cuda", self.precision)

    def teardown(self) -> None:
        if self._previous_benchmark is not None:
            torch.backends.cudnn.benchmark = self._previous_benchmark
            self._previous_benchmark = None

    def prepare_model(self, model: Any) -> Any:
        place_model(model, self.device, self.channels_last)
        # With compile_scope "step" the trainer compiles the whole step, this model inside it.
        return finish_model(model, channels_last=self.channels_last,
                            compile=self.compile and self.compile_scope == "model",
                            compile_mode=self.compile_mode)

    def place_data(self, inputs: Any, targets: Any) -> tuple[Any, Any]:
        """A whole split: moved to the GPU once when ``data_on_device`` and it fits, else as is."""
        if not self.data_on_device:
            return inputs, targets
        return place_split(inputs, targets, self.device)

    def prepare_batch(self, inputs: Any, targets: Any) -> tuple[Any, Any]:
        return (to_device(inputs, self.device, self.non_blocking),
                to_device(targets, self.device, self.non_blocking))

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        ctx: contextlib.AbstractContextManager[Any] = autocast_context("cuda", self.precision)
        return ctx

    def backward_step(self, loss: Any, optimizer: Any) -> None:
        backward_and_step(loss, optimizer, self._scaler)

    def backward(self, loss: Any) -> None:
        backward_only(loss, self._scaler)

    def optimizer_step(self, optimizer: Any) -> None:
        step_only(optimizer, self._scaler)

    def __repr__(self) -> str:
        return (f"CUDAAccelerator(device_index={self.device_index}, precision={self.precision!r}, "
                f"channels_last={self.channels_last}, compile={self.compile}, "
                f"compile_mode={self.compile_mode!r}, compile_scope={self.compile_scope!r})")
