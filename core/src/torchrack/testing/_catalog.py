"""The catalogue of conformance checks: each check's name, the kinds it applies to, its function;
and how one check runs on one component (a result naming the check and the component)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from torchrack.testing._calibrating import check_calibration_fit, check_calibrator_state
from torchrack.testing._checks import (
    check_availability,
    check_batching,
    check_deterministic,
    check_device_move,
    check_finite_scalar,
    check_global_state,
    check_gradients,
    check_instantiate,
    check_no_inplace,
    check_outputs_cpu,
    check_outputs_meta,
    check_params_schema,
    check_specs,
    check_state_sum,
)
from torchrack.testing._compiling import check_compile
from torchrack.testing._stepping import (
    check_lr_schedule,
    check_optimizer_state,
    check_optimizer_step,
    check_scheduler_state,
)
from torchrack.testing._subject import (
    FAILED,
    PASSED,
    SKIPPED,
    BuildError,
    CheckError,
    Result,
    Skip,
    Subject,
    describe,
    preserved_global_state,
)


@dataclass(frozen=True)
class Check:
    """A named check, the kinds it applies to, and its function; an ``opt_in`` check runs only
    when asked for (``compile``: ``compile = true`` in ``[tool.torchrack.conformance]``)."""

    name: str
    kinds: frozenset[str]
    fn: Callable[[Subject], list[str]]
    opt_in: bool = False

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip().splitlines()[0]


_ALL = frozenset({"dataset", "augmentation", "backbone", "head", "loss", "metric", "accelerator",
                  "optimizer", "scheduler", "calibrator", "adapter"})
_CALLED = frozenset({"augmentation", "backbone", "adapter", "head", "loss", "metric"})

#: Every per-component check, in the order they run. ``manifest`` (per distribution) is separate.
CHECKS: dict[str, Check] = {
    c.name: c
    for c in [
        Check("specs", _ALL, check_specs),
        Check("params_schema", _ALL, check_params_schema),
        Check("global_state", _ALL, check_global_state),
        Check("instantiate", _ALL, check_instantiate),
        Check("outputs_cpu", _CALLED | {"dataset"}, check_outputs_cpu),
        Check("outputs_meta", _CALLED, check_outputs_meta),
        Check("deterministic", _CALLED | {"dataset", "calibrator"}, check_deterministic),
        Check("no_inplace", _CALLED, check_no_inplace),
        Check("device_move", _CALLED, check_device_move),
        Check("gradients", frozenset({"backbone", "adapter", "head", "loss"}), check_gradients),
        Check("finite_scalar", frozenset({"loss"}), check_finite_scalar),
        Check("batching", frozenset({"metric"}), check_batching),
        Check("state_sum", frozenset({"metric"}), check_state_sum),
        Check("availability", frozenset({"accelerator"}), check_availability),
        Check("optimizer_step", frozenset({"optimizer"}), check_optimizer_step),
        Check("optimizer_state", frozenset({"optimizer"}), check_optimizer_state),
        Check("lr_schedule", frozenset({"scheduler"}), check_lr_schedule),
        Check("scheduler_state", frozenset({"scheduler"}), check_scheduler_state),
        Check("calibration_fit", frozenset({"calibrator"}), check_calibration_fit),
        Check("calibrator_state", frozenset({"calibrator"}), check_calibrator_state),
        Check("compile", _CALLED, check_compile, opt_in=True),
    ]
}


def checks_for(kind: str, *, opt_in: Iterable[str] = ()) -> list[str]:
    """The names of the checks that apply to ``kind``, in order; opt-in checks only when named
    in ``opt_in``."""
    wanted = set(opt_in)
    return [name for name, c in CHECKS.items() if kind in c.kinds and (not c.opt_in or name in wanted)]


def run_check(name: str, subject: Subject) -> Result:
    """Run check ``name`` on ``subject``; every message names the check and the component."""
    check = CHECKS[name]
    who = subject.who
    with preserved_global_state():
        try:
            problems = check.fn(subject)
        except Skip as exc:
            return Result(name, who, SKIPPED, reason=str(exc))
        except BuildError as exc:
            if name != "instantiate":
                return Result(name, who, SKIPPED, reason=f"{who} cannot be built; see its instantiate check ({exc})")
            problems = [str(exc)]
        except CheckError as exc:
            problems = [str(exc)]
        except Exception as exc:  # noqa: BLE001 - a component may raise anything
            problems = [f"raised {describe(exc)}"]
    if not problems:
        return Result(name, who, PASSED)
    return Result(name, who, FAILED, [f"[{name}] {subject.kind} {who}: {p}" for p in problems])
