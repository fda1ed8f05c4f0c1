"""A run's optimizer and LR scheduler, built through their plugins (kinds optimizer, scheduler).

Configs name them like every component (``optimizer = {name = "sgd", params = {...}}``), resolved
statically with their params validated against their manifests (default: ``sgd`` with lr 0.1 and
momentum 0.9, and ``constant``, both from torchrack-optim). Here they are imported and built, as
docs/plugin-contract.md says:

- the optimizer's entry point, called with its params, gives ``build(param_groups)``, called with
  the model's trainable parameters, which gives a ``torch.optim.Optimizer``;
- the scheduler's entry point, called with its params, gives ``build(optimizer, *, epochs,
  steps_per_epoch)`` and declares ``interval`` (``"step"`` or ``"epoch"``) and ``monitor`` (a
  metric name, or None). :class:`Schedule` steps what it builds: after each optimizer step or
  after each epoch, with the epoch's value of the monitored metric when there is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from torchrack import TorchrackError
from torchrack.plugins import Registry

from torchrack_runs._config import ResolvedConfig, Slot
from torchrack_runs._pipeline import call_component, instantiate

INTERVALS = ("step", "epoch")


def _contract_error(slot: Slot, what: str) -> TorchrackError:
    info = slot.info
    who = f"{slot.kind} {info.qualname if info else slot.ref.get('name')}"
    dist = f" from {info.dist} {info.dist_version}" if info else ""
    return TorchrackError(f"{who} ({slot.key}){dist} does not follow the {slot.kind} contract: "
                          f"{what} (docs/plugin-contract.md)")


def build_optimizer(resolved: ResolvedConfig, registry: Registry, parameters: Iterable[Any]) -> Any:
    """The config's optimizer over ``parameters``: tensors (those requiring grad, as one group) or
    ``torch.optim`` parameter-group dicts (``[train]`` lr multipliers, no-decay groups), passed
    as they are."""
    slot = resolved.slot("optimizer")
    build = instantiate(slot, registry)
    if not callable(build):
        raise _contract_error(slot, f"its entry point gave {type(build).__name__}, not build(param_groups)")
    items = list(parameters)
    groups = items if items and isinstance(items[0], dict) else [p for p in items if p.requires_grad]
    optimizer = call_component(slot, "build(param_groups)", build, groups)
    missing = [m for m in ("zero_grad", "step", "state_dict", "load_state_dict")
               if not callable(getattr(optimizer, m, None))]
    if missing or not isinstance(getattr(optimizer, "param_groups", None), list):
        raise _contract_error(slot, f"build(param_groups) gave {type(optimizer).__name__}, not a "
                                    "torch.optim.Optimizer")
    return optimizer


@dataclass
class Schedule:
    """The built scheduler of a run, and when and how the trainer steps it."""

    slot: Slot
    scheduler: Any
    interval: str  # "step" | "epoch"
    monitor: str | None = None

    def after_step(self) -> None:
        """After each optimizer step: step a scheduler of interval ``"step"``."""
        if self.interval == "step":
            call_component(self.slot, "step()", self.scheduler.step)

    def after_epoch(self, metrics: Mapping[str, Any]) -> None:
        """After each epoch: step a scheduler of interval ``"epoch"``, with ``metrics[monitor]``
        when it monitors one."""
        if self.interval != "epoch":
            return
        if self.monitor is None:
            call_component(self.slot, "step()", self.scheduler.step)
            return
        if self.monitor not in metrics:
            known = ", ".join(k for k, v in metrics.items() if isinstance(v, (int, float)))
            raise TorchrackError(
                f"{self.slot.kind} {self.slot.info.qualname if self.slot.info else self.slot.ref['name']} "
                f"({self.slot.key}) monitors {self.monitor!r}, which this run does not compute; the "
                f"metrics of an epoch are: {known} (change {self.slot.key}.params.monitor)")
        value = float(metrics[self.monitor])
        call_component(self.slot, f"step({self.monitor}={value})", self.scheduler.step, value)

    def state_dict(self) -> Any:
        return call_component(self.slot, "state_dict()", self.scheduler.state_dict)


def build_scheduler(resolved: ResolvedConfig, registry: Registry, optimizer: Any, *, epochs: int,
                    steps_per_epoch: int) -> Schedule:
    """The config's scheduler over ``optimizer``, for a run of ``epochs`` x ``steps_per_epoch``."""
    slot = resolved.slot("scheduler")
    build = instantiate(slot, registry)
    interval = getattr(build, "interval", slot.params.get("interval", "epoch"))
    monitor = getattr(build, "monitor", None)
    if not callable(build):
        raise _contract_error(slot, f"its entry point gave {type(build).__name__}, not "
                                    "build(optimizer, *, epochs, steps_per_epoch)")
    if interval not in INTERVALS:
        raise _contract_error(slot, f"interval must be 'step' or 'epoch', found {interval!r}")
    if monitor is not None and (not isinstance(monitor, str) or interval != "epoch"):
        raise _contract_error(slot, f"a monitored metric ({monitor!r}) is known once per epoch: "
                                    f"monitor must be a metric name and interval 'epoch', found {interval!r}")
    scheduler = call_component(slot, "build(optimizer)", build, optimizer, epochs=epochs,
                               steps_per_epoch=steps_per_epoch)
    missing = [m for m in ("step", "state_dict", "load_state_dict") if not callable(getattr(scheduler, m, None))]
    if missing:
        raise _contract_error(slot, f"the scheduler it built ({type(scheduler).__name__}) has no "
                                    f"{', '.join(f'{m}()' for m in missing)}")
    return Schedule(slot, scheduler, interval, monitor)
