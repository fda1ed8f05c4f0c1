"""Training strategies of the ``[train]`` table: parameter groups, freezing, gradient clipping and
accumulation, an EMA of the weights, early stopping, best-k checkpoints and the non-finite stop.

Each is a small object the trainer calls at a fixed point of the loop (docs/training.md):

- :func:`param_groups` before the optimizer is built: one group per model role (and per
  decay / no-decay split), each with the role's learning-rate multiplier;
- :class:`Freezer` at each epoch start: a role frozen for its first K epochs gets no gradient and
  runs in eval mode (batch-norm statistics kept);
- :class:`Stepper` is what the accelerator steps: clipping, then the optimizer's step, then the
  EMA update; a clipped norm that is not finite stops the run;
- :class:`EMA`: a shadow copy of the weights, swapped in for evaluation;
- :class:`Monitor` (early stopping and best-k checkpoints): the best value of a metric so far.

Strategies users want to publish themselves are hooks (``torchrack.hooks``): a hook may call
``run.request_stop(reason)`` at an epoch end (docs/plugin-authors.md has a worked example).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torchrack import TorchrackError

#: Model roles a ``[train]`` setting may name, and the attribute of the model that holds each.
ROLES = {"model.backbone": "backbone", "model.adapter": "adapter", "model.head": "head"}


class NonFiniteError(TorchrackError):
    """A non-finite loss or gradient norm ended the run (``[train] stop_on_non_finite``)."""

    def __init__(self, what: str, epoch: int, step: int) -> None:
        self.what, self.epoch, self.step = what, epoch, step
        super().__init__(
            f"the {what} became non-finite at epoch {epoch}, step {step}; the run stopped there "
            "(lower the learning rate, set [train] clip_grad_norm, or check the data for NaN/inf; "
            "[train] stop_on_non_finite = false trains on)")


@dataclass
class TrainSettings:
    """The ``[train]`` table with its defaults filled in."""

    lr_multipliers: dict[str, float] = field(default_factory=dict)
    no_decay_norm_bias: bool = False
    freeze: dict[str, int] = field(default_factory=dict)
    clip_grad_norm: float | None = None
    clip_grad_value: float | None = None
    accumulate: int = 1
    ema_decay: float | None = None
    stop_on_non_finite: bool = True
    early_stopping: dict[str, Any] | None = None
    checkpoints: dict[str, Any] | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TrainSettings:
        t = dict(config.get("train") or {})
        ema = t.get("ema")
        early = t.get("early_stopping")
        if early is not None:
            early = {"patience": 3, "min_delta": 0.0, **early}
            early.setdefault("mode", default_mode(early["monitor"]))
        ckpts = t.get("checkpoints")
        if ckpts is not None:
            ckpts = {"keep_best": 1, **ckpts}
            ckpts.setdefault("mode", default_mode(ckpts["monitor"]))
        return cls(
            lr_multipliers={k: float(v) for k, v in (t.get("lr_multipliers") or {}).items()},
            no_decay_norm_bias=bool(t.get("no_decay_norm_bias", False)),
            freeze={k: int(v) for k, v in (t.get("freeze") or {}).items()},
            clip_grad_norm=None if t.get("clip_grad_norm") is None else float(t["clip_grad_norm"]),
            clip_grad_value=None if t.get("clip_grad_value") is None else float(t["clip_grad_value"]),
            accumulate=int(t.get("accumulate", 1)),
            ema_decay=None if ema is None else float(ema["decay"]),
            stop_on_non_finite=bool(t.get("stop_on_non_finite", True)),
            early_stopping=early,
            checkpoints=ckpts,
        )

    def as_config(self) -> dict[str, Any]:
        """The table as a config holds it, every default written out (for the resolved config)."""
        out: dict[str, Any] = {"accumulate": self.accumulate,
                               "no_decay_norm_bias": self.no_decay_norm_bias,
                               "stop_on_non_finite": self.stop_on_non_finite}
        if self.lr_multipliers:
            out["lr_multipliers"] = dict(self.lr_multipliers)
        if self.freeze:
            out["freeze"] = dict(self.freeze)
        if self.clip_grad_norm is not None:
            out["clip_grad_norm"] = self.clip_grad_norm
        if self.clip_grad_value is not None:
            out["clip_grad_value"] = self.clip_grad_value
        if self.ema_decay is not None:
            out["ema"] = {"decay": self.ema_decay}
        if self.early_stopping is not None:
            out["early_stopping"] = dict(self.early_stopping)
        if self.checkpoints is not None:
            out["checkpoints"] = dict(self.checkpoints)
        return out


def check_accumulation(accelerator: Any, accumulate: int) -> None:
    """Refuse ``accumulate > 1`` on an accelerator without ``backward``/``optimizer_step``."""
    if accumulate > 1 and not (callable(getattr(accelerator, "backward", None))
                               and callable(getattr(accelerator, "optimizer_step", None))):
        name = getattr(accelerator, "name", type(accelerator).__name__)
        raise TorchrackError(
            f"[train] accumulate = {accumulate}: accelerator {name} has no backward() and "
            "optimizer_step() to accumulate gradients with (docs/plugin-contract.md, "
            "accelerators); set accumulate = 1 or use an accelerator that has them")


def default_mode(monitor: str) -> str:
    """``min`` for a loss-like metric (its name ends in ``loss``), else ``max``."""
    return "min" if monitor.endswith("loss") or monitor in ("ece", "nll", "error") else "max"


def _no_decay(module_name: str, param_name: str, module: Any) -> bool:
    import torch

    norms: tuple[type, ...] = (torch.nn.modules.batchnorm._NormBase, torch.nn.LayerNorm,
                               torch.nn.GroupNorm, torch.nn.LocalResponseNorm)
    rms = getattr(torch.nn, "RMSNorm", None)
    if rms is not None:
        norms = (*norms, rms)
    return param_name.endswith("bias") or isinstance(module, norms)


def param_groups(model: Any, settings: TrainSettings) -> list[dict[str, Any]]:
    """The optimizer's parameter groups: per role (``model.backbone``, ``model.head``), split into
    decay / no-decay when ``no_decay_norm_bias``; each group carries ``role`` and ``lr_multiplier``
    (applied by :func:`apply_multipliers` once the optimizer exists) and ``weight_decay = 0`` for
    no-decay groups. Frozen roles are included: their parameters get no gradient while frozen.
    Parameters that do not require grad when built (a plugin's own frozen layers) stay out."""
    groups: list[dict[str, Any]] = []
    for role, attr in ROLES.items():
        sub = getattr(model, attr, None)
        if sub is None:  # no [model.adapter]
            continue
        decay: list[Any] = []
        keep: list[Any] = []
        seen: set[int] = set()
        for mod_name, module in sub.named_modules():
            for p_name, p in module.named_parameters(recurse=False):
                if id(p) in seen or not p.requires_grad:
                    continue
                seen.add(id(p))
                if settings.no_decay_norm_bias and _no_decay(mod_name, p_name, module):
                    keep.append(p)
                else:
                    decay.append(p)
        mult = settings.lr_multipliers.get(role, 1.0)
        if decay:
            groups.append({"params": decay, "role": role, "lr_multiplier": mult})
        if keep:
            groups.append({"params": keep, "role": role, "lr_multiplier": mult, "weight_decay": 0.0})
    return groups


def apply_multipliers(optimizer: Any) -> None:
    """Scale each group's ``lr`` by its ``lr_multiplier`` (before any scheduler reads it)."""
    for group in optimizer.param_groups:
        mult = group.get("lr_multiplier", 1.0)
        if mult != 1.0 and isinstance(group.get("lr"), (int, float)):
            group["lr"] = group["lr"] * mult


class Freezer:
    """Roles frozen for their first K epochs (0-based epoch < K): no gradient, eval mode."""

    def __init__(self, model: Any, settings: TrainSettings) -> None:
        self.model = model
        self.until = {ROLES[r]: k for r, k in settings.freeze.items()
                      if k > 0 and getattr(model, ROLES[r], None) is not None}

    @property
    def active(self) -> bool:
        return bool(self.until)

    def frozen(self, epoch: int) -> list[str]:
        """The model attributes frozen in (0-based) ``epoch``."""
        return [attr for attr, k in self.until.items() if epoch < k]

    def start_epoch(self, epoch: int) -> None:
        """Set ``requires_grad`` per role for ``epoch`` (after ``model.train()``)."""
        for attr in self.until:
            frozen = epoch < self.until[attr]
            sub = getattr(self.model, attr)
            for p in sub.parameters():
                p.requires_grad_(not frozen)
            if frozen:
                sub.eval()


class EMA:
    """An exponential moving average of the model's floating-point parameters and buffers:
    ``ema = decay * ema + (1 - decay) * weights`` after every optimizer step."""

    def __init__(self, model: Any, decay: float) -> None:
        import torch

        self.decay = decay
        self.model = model
        self.names = [n for n, t in model.state_dict().items() if torch.is_floating_point(t)]
        state = model.state_dict()
        self.shadow = [state[n].detach().clone() for n in self.names]
        self._live = [state[n] for n in self.names]

    def update(self) -> None:
        import torch

        with torch.no_grad():
            torch._foreach_lerp_(self.shadow, self._live, 1.0 - self.decay)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "names": list(self.names), "shadow": list(self.shadow)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if list(state.get("names", [])) != self.names:
            raise TorchrackError("the checkpoint's EMA weights do not fit this model")
        with _no_grad():
            for dst, src in zip(self.shadow, state["shadow"], strict=True):
                dst.copy_(src)

    def swapped(self) -> _Swap:
        """Context manager: the model holds the EMA weights inside, its own weights after."""
        return _Swap(self)


class _no_grad:
    def __enter__(self) -> None:
        import torch

        self._ctx = torch.no_grad()
        self._ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)


class _Swap:
    def __init__(self, ema: EMA) -> None:
        self.ema = ema

    def __enter__(self) -> None:
        import torch

        with torch.no_grad():
            self.saved = [t.detach().clone() for t in self.ema._live]
            torch._foreach_copy_(self.ema._live, self.ema.shadow)

    def __exit__(self, *exc: Any) -> None:
        import torch

        with torch.no_grad():
            torch._foreach_copy_(self.ema._live, self.saved)


class Stepper:
    """What the accelerator steps in place of the optimizer: gradient clipping (norm, then
    value), the optimizer's step, then the EMA update. A gradient scaler unscales the gradients
    before it calls :meth:`step`, so clipping sees true gradients under fp16 too.

    Everything else (``param_groups``, ``state``, ``zero_grad``, ``state_dict``, ...) is the
    optimizer's own.
    """

    def __init__(self, optimizer: Any, settings: TrainSettings, ema: EMA | None = None) -> None:
        self.optimizer = optimizer
        self.clip_norm = settings.clip_grad_norm
        self.clip_value = settings.clip_grad_value
        self.check = settings.stop_on_non_finite
        self.ema = ema
        #: The last clipped gradient norm (a tensor: read late, never synchronised here).
        self.last_norm: Any = None
        self.params: list[Any] | None = None
        import torch

        # Bound once: the step runs every few hundred microseconds.
        self._clip_norm_ = torch.nn.utils.clip_grad_norm_
        self._clip_value_ = torch.nn.utils.clip_grad_value_

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)

    #: A gradient scaler unscales before calling :meth:`step` (clipping needs true gradients),
    #: also for an optimizer that could take scaled gradients itself.
    _step_supports_amp_scaling = False

    def step(self, *args: Any, **kwargs: Any) -> Any:
        if self.params is None:  # once: the groups' tensors (clipping skips those without grad)
            self.params = [p for group in self.optimizer.param_groups for p in group["params"]]
        if self.clip_norm is not None:
            self.last_norm = self._clip_norm_(self.params, self.clip_norm)
        if self.clip_value is not None:
            self._clip_value_(self.params, self.clip_value)
        out = self.optimizer.step(*args, **kwargs)  # looked up: a scheduler may wrap it later
        if self.ema is not None:
            self.ema.update()
        return out


@dataclass
class Monitor:
    """The best value of ``monitor`` so far, in ``mode`` (min or max), improvements by more than
    ``min_delta``; ``wait`` counts epochs since the last improvement."""

    monitor: str
    mode: str
    min_delta: float = 0.0
    best: float | None = None
    best_epoch: int | None = None
    wait: int = 0

    def value(self, metrics: Mapping[str, Any], what: str) -> float:
        if self.monitor not in metrics or not isinstance(metrics[self.monitor], (int, float)):
            known = ", ".join(k for k, v in metrics.items() if isinstance(v, (int, float)))
            raise TorchrackError(
                f"[train.{what}] monitors {self.monitor!r}, which this run does not compute; the "
                f"metrics of an epoch are: {known} (change train.{what}.monitor)")
        return float(metrics[self.monitor])

    def better(self, value: float, than: float | None) -> bool:
        if than is None:
            return math.isfinite(value)
        if self.mode == "min":
            return value < than - self.min_delta
        return value > than + self.min_delta

    def update(self, value: float, epoch: int) -> bool:
        """Record the epoch's value; True when it improved on the best."""
        if self.better(value, self.best):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return True
        self.wait += 1
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state.get("best"), state.get("best_epoch"), int(state.get("wait", 0))


@dataclass
class Kept:
    """A checkpoint kept by :class:`BestCheckpoints`: 1-based ``epoch``, path, monitored value."""

    epoch: int
    path: str
    value: float


class BestCheckpoints:
    """Keep the ``keep_best`` checkpoints with the best monitored value (ties: the earlier)."""

    def __init__(self, monitor: str, mode: str, keep_best: int) -> None:
        self.monitor, self.mode, self.keep_best = monitor, mode, keep_best
        self.kept: list[Kept] = []

    def _key(self, k: Kept) -> tuple[float, int]:
        return (k.value if self.mode == "min" else -k.value, k.epoch)

    def offer(self, epoch: int, value: float, path_of: Any) -> tuple[str | None, list[str]]:
        """Whether epoch ``epoch`` (1-based) is kept: ``(path to write or None, paths to delete)``."""
        if not math.isfinite(value):
            return None, []
        candidate = Kept(epoch, str(path_of(epoch)), value)
        ranked = sorted([*self.kept, candidate], key=self._key)
        keep, drop = ranked[:self.keep_best], ranked[self.keep_best:]
        self.kept = keep
        return (candidate.path if candidate in keep else None), [d.path for d in drop if d is not candidate]

    def records(self) -> list[dict[str, Any]]:
        best = min(self.kept, key=self._key) if self.kept else None
        return [{"epoch": k.epoch, "path": k.path, "monitor": self.monitor, "value": k.value,
                 "best": k is best} for k in sorted(self.kept, key=lambda k: k.epoch)]

    def state_dict(self) -> list[dict[str, Any]]:
        return [{"epoch": k.epoch, "path": k.path, "value": k.value} for k in self.kept]

    def load_state_dict(self, state: Iterable[Mapping[str, Any]]) -> None:
        self.kept = [Kept(int(s["epoch"]), str(s["path"]), float(s["value"])) for s in state]
