"""What a conformance check works on: the component under test, its results, the global state.

A :class:`Subject` is one component with its params: it builds it (importing on first use), makes
inputs from the declared specs and calls it as its kind's contract says, turning anything the
component raises into a :class:`CheckError` that names what was being done.
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from torchrack.contract import check_tensors
from torchrack.contracts._schemas import params_with_defaults
from torchrack.contracts._tensorspec import InvalidTensorSpecError
from torchrack.plugins._registry import Registry
from torchrack.plugins._vetting import ComponentInfo
from torchrack.testing._inputs import symbol_sizes, synthesize

PASSED = "passed"
FAILED = "failed"
SKIPPED = "skipped"


class Skip(Exception):
    """A check that does not apply to this component here; the message says why."""


class ConformanceFailure(AssertionError):
    """One or more conformance checks failed; ``failures`` holds every message."""

    def __init__(self, failures: Sequence[str]) -> None:
        self.failures = list(failures)
        super().__init__("\n".join(self.failures))


@dataclass
class Result:
    """The outcome of one check on one component (or distribution)."""

    check: str
    target: str
    status: str
    messages: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASSED


def describe(exc: BaseException) -> str:
    """``TypeError: message (at file.py:12 in forward)`` for the innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name})"
    return f"{type(exc).__name__}: {exc}{where}"


# --------------------------------------------------------------------------------------------
# Global state


@dataclass
class GlobalState:
    """What a component must leave as it found it."""

    default_dtype: torch.dtype
    grad_enabled: bool
    torch_rng: torch.Tensor
    python_rng: Any
    numpy_rng: Any
    cuda_rng: list[torch.Tensor] | None

    @classmethod
    def capture(cls) -> GlobalState:
        np = sys.modules.get("numpy")
        cuda = None
        if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
            cuda = torch.cuda.get_rng_state_all()
        return cls(
            torch.get_default_dtype(),
            torch.is_grad_enabled(),
            torch.get_rng_state(),
            random.getstate(),
            np.random.get_state() if np is not None else None,
            cuda,
        )

    def restore(self) -> None:
        torch.set_default_dtype(self.default_dtype)
        torch.set_grad_enabled(self.grad_enabled)
        torch.set_rng_state(self.torch_rng)
        random.setstate(self.python_rng)
        np = sys.modules.get("numpy")
        if np is not None and self.numpy_rng is not None:
            np.random.set_state(self.numpy_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)

    def changes(self, after: GlobalState, *, rng: bool = True) -> list[str]:
        """What differs in ``after``, one sentence each."""
        out = []
        if after.default_dtype != self.default_dtype:
            out.append(
                f"changed the default dtype from {self.default_dtype} to {after.default_dtype} "
                "(torch.set_default_dtype); pass dtype= to tensor constructors instead"
            )
        if after.grad_enabled != self.grad_enabled:
            out.append(
                f"changed grad mode from {self.grad_enabled} to {after.grad_enabled}; use "
                "torch.no_grad() as a context manager or decorator, never torch.set_grad_enabled"
            )
        if rng:
            if not torch.equal(after.torch_rng, self.torch_rng):
                out.append(
                    "drew from torch's global RNG; draw from the torch.Generator passed in (or "
                    "one made from the component's seed param)"
                )
            if after.python_rng != self.python_rng:
                out.append("drew from Python's global `random`; use a torch.Generator")
            if (
                self.numpy_rng is not None and after.numpy_rng is not None
                and not _same_numpy_state(self.numpy_rng, after.numpy_rng)
            ):
                out.append("drew from numpy's global RNG; use a torch.Generator")
        return out


def _same_numpy_state(a: Any, b: Any) -> bool:
    return bool(a[0] == b[0] and (a[1] == b[1]).all() and tuple(a[2:]) == tuple(b[2:]))


@contextlib.contextmanager
def preserved_global_state() -> Iterator[GlobalState]:
    """Run a block, then put the default dtype, grad mode and RNG states back as they were."""
    state = GlobalState.capture()
    try:
        yield state
    finally:
        state.restore()


# --------------------------------------------------------------------------------------------
# The subject of a check


class Subject:
    """One component under test: its manifest entry, params, and how to build and call it."""

    def __init__(
        self,
        comp: ComponentInfo,
        registry: Registry,
        params: Mapping[str, Any] | None = None,
        sizes: Mapping[str, int] | None = None,
    ) -> None:
        self.comp = comp
        self.registry = registry
        self.kind = comp.kind
        self.overrides = dict(params or {})
        self.params = params_with_defaults(comp.params_schema, self.overrides)
        self.sizes = symbol_sizes(self.params, sizes)
        self.size_overrides = dict(sizes or {})

    @property
    def who(self) -> str:
        return self.comp.qualname

    def missing_params(self) -> list[str]:
        """Required params not given; with a top-level ``anyOf`` of ``required`` alternatives
        (give ``path`` or ``run``), the alternatives when none is given (not None)."""
        schema = self.comp.params_schema
        missing = [p for p in schema.get("required", []) if p not in self.params]
        options = [alt["required"] for alt in schema.get("anyOf", [])
                   if isinstance(alt, dict) and isinstance(alt.get("required"), list)]
        if options and not any(all(self.params.get(p) is not None for p in alt) for alt in options):
            missing.append(" or ".join("+".join(alt) for alt in options))
        return missing

    def require_params(self) -> None:
        missing = self.missing_params()
        if missing:
            raise Skip(
                f"{self.who} needs params without defaults ({', '.join(missing)}); give them in "
                "`[tool.torchrack.conformance.params]` or the `params=` argument to test it"
            )

    def factory(self) -> Any:
        try:
            return self.registry.load(self.comp)
        except Exception as exc:  # noqa: BLE001 - PluginImportError, or a denied/unusable plugin
            cause = exc.__cause__ or exc
            raise BuildError(f"cannot import {self.comp.entry_point}: {describe(cause)}") from exc

    def build(self, device: str | None = None) -> Any:
        """Import and construct with the params, optionally under ``torch.device(device)``."""
        self.require_params()
        factory = self.factory()
        try:
            if device is None:
                return factory(**self.params)
            with torch.device(device):
                return factory(**self.params)
        except Exception as exc:  # noqa: BLE001 - a constructor may raise anything
            raise BuildError(f"construction with params {self.params!r} raised {describe(exc)}") from exc

    def inputs(self, *, n: int | None = None, seed: int = 0, soft_targets: bool = False) -> dict[str, torch.Tensor]:
        try:
            return synthesize(
                self.comp.inputs, self.params, kind=self.kind, sizes=self.size_overrides,
                n=n, seed=seed, soft_targets=soft_targets,
            )
        except InvalidTensorSpecError as exc:
            raise CheckError(f"cannot build inputs from the declared input specs: {exc}") from exc

    def call(self, obj: Any, inputs: Mapping[str, torch.Tensor], generator: torch.Generator | None = None) -> Any:
        """Call ``obj`` as its kind's contract says; return the outputs as a list of tensors.

        A metric is updated (its ``compute()`` is not called here); it returns ``[]``.
        """
        args = list(inputs.values())
        try:
            if self.kind == "augmentation":
                return list(obj(*args, generator=generator))
            if self.kind == "metric":
                obj.update(*args)
                return []
            if self.kind == "dataset":
                raise AssertionError("datasets are loaded, not called")
            out = obj(*args)
        except CheckError:
            raise
        except Exception as exc:  # noqa: BLE001
            what = "update" if self.kind == "metric" else "call"
            shapes = ", ".join(f"{k} {list(v.shape)} {str(v.dtype).removeprefix('torch.')}"
                               for k, v in inputs.items())
            raise CheckError(f"{what} with {shapes} raised {describe(exc)}") from exc
        return list(out) if isinstance(out, (tuple, list)) else [out]

    def load(self, dataset: Any, split: str) -> list[torch.Tensor]:
        try:
            return list(dataset.load(split))
        except Exception as exc:  # noqa: BLE001
            raise CheckError(f"load({split!r}) raised {describe(exc)}") from exc

    def compute(self, metric: Any) -> Any:
        try:
            return metric.compute()
        except Exception as exc:  # noqa: BLE001
            raise CheckError(f"compute() raised {describe(exc)}") from exc

    def check_outputs(self, outputs: Sequence[Any], inputs: Mapping[str, torch.Tensor]) -> list[str]:
        """Problems of ``outputs`` against the declared output specs (symbols bound by inputs)."""
        bindings: dict[str, int] = {}
        try:
            check_tensors(self.comp.inputs, inputs, self.params, bindings)
            return check_tensors(self.comp.outputs, list(outputs), self.params, bindings, who="output")
        except InvalidTensorSpecError as exc:
            return [f"the declared specs cannot be evaluated: {exc}"]


class CheckError(Exception):
    """A component failed in a way that ends the check; the message is the problem."""


class BuildError(CheckError):
    """The component cannot be imported or constructed: the ``instantiate`` check reports it,
    every other check is skipped (pointing there) rather than repeating the same failure."""


def is_module(obj: Any) -> bool:
    return isinstance(obj, torch.nn.Module)


def move_target(subject: Subject) -> str:
    devices = subject.comp.devices
    if "cuda" in devices and torch.cuda.is_available():
        return "cuda"
    if "meta" in devices:
        return "meta"
    if "cuda" in devices:
        raise Skip(f"{subject.who} declares cuda, but no CUDA device is available here, and not meta")
    raise Skip(f"{subject.who} declares no device but cpu (devices: {devices})")


def generator_on(device: str | torch.device, seed: int) -> torch.Generator | None:
    dev = torch.device(device)
    if dev.type == "meta":
        return None  # a meta tensor has no values to draw; the component uses its own
    return torch.Generator(device=dev).manual_seed(seed)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
    return bool(a == b)


def close(a: Any, b: Any, rel: float = 1e-5, abs_: float = 1e-7) -> bool:
    """Recursive closeness of metric results: floats, ints, lists, dicts; nan equals nan."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(close(a[k], b[k], rel, abs_) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(close(x, y, rel, abs_) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        ta, tb = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
        return ta.shape == tb.shape and bool(torch.allclose(ta, tb, rtol=rel, atol=abs_, equal_nan=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
    return bool(a == b)
