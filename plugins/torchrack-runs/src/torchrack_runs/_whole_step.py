"""``compile_scope = "step"``: the whole training step compiled as one graph.

With an accelerator's ``compile_scope = "step"`` (``cpu`` and ``cuda`` of torchrack-accelerators),
one function -- the augmentations on the device, forward and loss under the accelerator's
autocast, the gradients, the optimizer update -- is given to ``torch.compile(fullgraph=True,
dynamic=False)`` (on CUDA with the accelerator's ``compile_mode``; ``reduce-overhead`` captures it
in a CUDA graph), instead of the model alone. What that takes, and why:

- the gradients come from ``torch.autograd.grad`` traced into the graph (dynamo's
  ``trace_autograd_ops``, set while the step is traced), not from ``loss.backward()`` and
  ``optimizer.step()``: ``Optimizer.step`` graph-breaks on purpose, so the update is torch's own
  functional SGD (``torch.optim.sgd.sgd``) on the optimizer's param groups and momentum buffers,
  the same arithmetic as ``optimizer.step()``; the learning rate is a device tensor refreshed from
  the param group before each step, so a scheduler changes it without a recompile. Other
  optimizers, gradient clipping, EMA, accumulation and fp16's gradient scaler need
  ``compile_scope = "model"`` (the error says so);
- the momentum buffers are made up front as zeros (with ``dampening = 0`` a zero buffer gives
  ``optimizer.step()``'s first update exactly; with another dampening the first step runs
  eagerly to create them);
- shapes are static: a step whose batch has another shape than the compiled one (the last,
  partial batch of an epoch) runs eagerly instead of recompiling, said once in the log;
- augmentations draw from torch's default RNG (a ``torch.Generator`` cannot be traced; the steps
  run eagerly draw from it too, so there is one stream), which the trainer seeds from ``(seed,
  epoch, rank)`` before each epoch: two runs of a config give the same losses;
- the step returns the loss as a device tensor, read one step late like the default loop's, so
  no step waits for the device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torchrack import TorchrackError

SCOPES = ("model", "step")


class WholeStepError(TorchrackError):
    """``compile_scope = "step"`` cannot compile this run's step; the message says why and what to do."""


def _refuse(why: str) -> WholeStepError:
    return WholeStepError(f"accelerator compile_scope = 'step' {why}; use compile_scope = 'model' "
                          "(the default) for this run")


class WholeStep:
    """One training step of ``pipe`` with ``optimizer`` (a ``torch.optim.SGD``), compiled whole.

    ``step(xb, yb, generator)`` trains on one batch (augmentations included) and returns the
    detached loss tensor; ``explain(xb, yb)`` is ``torch._dynamo.explain`` of the compiled function.
    ``backend``/``mode`` go to ``torch.compile`` (the tests use a cheap backend on the CPU).
    """

    def __init__(self, pipe: Any, optimizer: Any, *, backend: str | None = None, mode: str | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        import torch

        if type(optimizer) is not torch.optim.SGD:
            raise _refuse(f"compiles the update of torch.optim.SGD only (sgd), found {type(optimizer).__name__}")
        for group in optimizer.param_groups:
            if group.get("fused") or group.get("differentiable"):
                raise _refuse("needs an SGD without fused= or differentiable=")
        self.pipe = pipe
        self.optimizer = optimizer
        self.log = log or (lambda msg: None)
        self.device = pipe.accelerator.device
        self.groups = [[p for p in g["params"] if p.requires_grad] for g in optimizer.param_groups]
        self.params = [p for ps in self.groups for p in ps]
        self.lrs = [torch.tensor(float(g["lr"]), dtype=torch.float32, device=self.device)
                    for g in optimizer.param_groups]
        # Given to the augmentations while traced, so none makes a generator of its own in the
        # graph (it cannot); traced, they draw from the default RNG instead, never from this one.
        self._placeholder = torch.Generator(device=self.device)
        self.shape: tuple[Any, ...] | None = None
        self.said_eager = False
        self.eager_first = False
        self.hyper = self._hyperparameters()
        self.bufs: list[list[Any]] = []
        for group, params in zip(optimizer.param_groups, self.groups, strict=True):
            if not group["momentum"]:
                continue
            missing = [p for p in params if optimizer.state[p].get("momentum_buffer") is None]
            if missing and group["dampening"]:
                self.eager_first = True  # the first step creates the buffers, as step() does
            else:
                for p in missing:
                    optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        self._take_buffers()
        kwargs: dict[str, Any] = {"fullgraph": True, "dynamic": False}
        if backend is not None:
            kwargs["backend"] = backend
        if mode not in (None, "default"):
            kwargs["mode"] = mode
        self.compiled = torch.compile(self._step, **kwargs)
        forward = pipe.forward if pipe.forward is not None else pipe.model
        self.forward = forward

    def _hyperparameters(self) -> list[tuple[Any, ...]]:
        return [(g["weight_decay"], g["momentum"], g["dampening"], g["nesterov"], g["maximize"])
                for g in self.optimizer.param_groups]

    def _take_buffers(self) -> None:
        """The momentum buffers, the optimizer's own tensors (updated in place by both paths)."""
        self.bufs = [[self.optimizer.state[p].get("momentum_buffer") for p in ps] for ps in self.groups]

    # -- the function that is compiled -------------------------------------------------------

    def _loss(self, xb: Any, yb: Any, generator: Any) -> Any:
        for _, aug in self.pipe.augs:  # on the batch's device; traced, they draw from the default RNG
            xb, yb = aug(xb, yb, generator=generator)
        if not xb.is_floating_point():
            xb = xb.float()
        with self.pipe.accelerator.autocast():
            return self.pipe.loss(self.forward(xb), yb)

    def _step(self, xb: Any, yb: Any, lrs: list[Any]) -> Any:
        import torch
        from torch.optim.sgd import sgd

        loss = self._loss(xb, yb, self._placeholder)
        value = loss.detach().clone()  # returned: the graph's own tensor, not autograd's
        grads = torch.autograd.grad(loss, self.params)
        with torch.no_grad():
            start = 0
            # Plain attributes, not the optimizer's param groups: dynamo would guard on every
            # value of a group (its float lr too) and recompile at each scheduler step.
            for params, bufs, hyper, lr in zip(self.groups, self.bufs, self.hyper, lrs, strict=True):
                g = list(grads[start:start + len(params)])
                start += len(params)
                weight_decay, momentum, dampening, nesterov, maximize = hyper
                sgd(params, g, list(bufs), weight_decay=weight_decay, momentum=momentum, lr=lr,
                    dampening=dampening, nesterov=nesterov, maximize=maximize, foreach=False)
        return value

    # -- what the trainer calls -----------------------------------------------------------

    def _default_generator(self) -> Any:
        import torch

        if self.device.type == "cuda":
            return torch.cuda.default_generators[self.device.index or 0]
        return torch.default_generator

    def _eager(self, xb: Any, yb: Any, generator: Any) -> Any:
        # The same stream as the compiled steps: torch's default RNG (``generator`` is unused).
        loss = self._loss(xb, yb, self._default_generator())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def step(self, xb: Any, yb: Any, generator: Any) -> Any:
        import torch._dynamo

        shape = (tuple(xb.shape), tuple(yb.shape))
        if self.shape is None:
            self.shape = shape  # the shape compiled for
            if self.eager_first:
                self.eager_first = False
                loss = self._eager(xb, yb, generator)
                self._take_buffers()  # the buffers that step made
                return loss
        if shape != self.shape:
            if not self.said_eager:
                self.log(f"compile_scope = 'step': a batch of shape {list(xb.shape)} (not the compiled "
                         f"{list(self.shape[0])}, e.g. an epoch's last batch) runs eagerly, with no recompile")
                self.said_eager = True
            return self._eager(xb, yb, generator)
        for lr, group in zip(self.lrs, self.optimizer.param_groups, strict=True):
            lr.fill_(float(group["lr"]))
        hyper = self._hyperparameters()
        if hyper != self.hyper:  # e.g. onecycle's momentum: a recompile, only when one changes
            self.hyper = hyper
        with torch._dynamo.config.patch(trace_autograd_ops=True):
            return self.compiled(xb, yb, self.lrs)

    def explain(self, xb: Any, yb: Any) -> Any:
        """``torch._dynamo.explain`` of the compiled step on this batch (it trains on it once)."""
        import torch._dynamo

        with torch._dynamo.config.patch(trace_autograd_ops=True):
            return torch._dynamo.explain(self._step)(xb, yb, self.lrs)


def check_whole_step(acc: Any, stepper: Any, accumulate: int) -> None:
    """Refuse, before any compute, what ``compile_scope = "step"`` cannot compile."""
    import torch

    if not hasattr(torch._dynamo.config, "trace_autograd_ops"):
        raise _refuse(f"needs a torch whose dynamo traces autograd (trace_autograd_ops); this is torch "
                      f"{torch.__version__}")
    if accumulate != 1:
        raise _refuse(f"compiles one optimizer step per batch; [train] accumulate = {accumulate}")
    if getattr(acc, "precision", "fp32") == "fp16":
        raise _refuse("cannot compile fp16's gradient scaler; use precision = 'bf16' or 'fp32'")
    if stepper is not None and type(stepper).__name__ == "Stepper":
        raise _refuse("does not compile gradient clipping or EMA ([train] clip_grad_norm, clip_grad_value, ema)")


def train_epoch_whole(
    whole: WholeStep,
    x: Any,
    y: Any,
    perm: Any,
    *,
    batch_size: int,
    steps: int,
    generator: Any,
    on_step: Any = None,
    after_step: Callable[[], None] | None = None,
    check_finite: bool = False,
    epoch: int = 0,
    batches: Any = None,
) -> tuple[Any, int]:
    """:func:`~torchrack_runs._trainer.train_epoch` for ``compile_scope = "step"``: the same
    batches in the same order, each step one call of ``whole.step``; the loss of a step is read
    one step late (``on_step``, the non-finite check) and summed on the device otherwise."""
    import math

    import torch

    from torchrack_runs._strategies import NonFiniteError

    acc = whole.pipe.accelerator
    shard, prepare = acc.shard, acc.prepare_batch
    loss_sum = torch.zeros((), dtype=torch.float64, device=acc.device)
    seen = 0
    read = on_step is not None or check_finite
    pending: tuple[int, Any, int] | None = None

    def flush(item: tuple[int, Any, int]) -> None:
        step, loss_d, n = item
        value = float(loss_d)
        loss_sum.add_(value * n)
        if check_finite and not math.isfinite(value):
            raise NonFiniteError("loss", epoch + 1, step + 1)
        if on_step is not None:
            on_step(step, value)

    for step in range(steps):
        idx = shard(perm[step * batch_size:(step + 1) * batch_size])
        xb, yb = prepare(x[idx], y[idx]) if batches is None else prepare(*next(batches))
        loss = whole.step(xb, yb, generator)
        if after_step is not None:
            after_step()
        n = idx.shape[0]
        if n:
            seen += n
            if read:
                if pending is not None:
                    flush(pending)
                pending = (step, loss, n)
            else:
                loss_sum.add_(loss, alpha=n)
    if pending is not None:
        flush(pending)
    return loss_sum, seen
