"""Conformance checks of calibrators: fitted on held-out logits, then mapping logits to logits.

A calibrator is fitted, ``fit(logits, targets)``, and called, ``calibrator(logits) -> logits``;
its fitted parameters are its ``state_dict()``. The checks fit it on :func:`held_out`, a fixed,
seeded case of ``N`` = :data:`SAMPLES` over-confident logits (sharpened, right for about
:data:`RIGHT_SHARE` of the samples), built from the component's declared ``logits`` spec (so
``K`` follows its params), and check that fitting never makes the negative log-likelihood of
those logits worse, that the output fits the declared ``logits`` output spec, that the inputs
are left alone, that two fits alike agree and that ``load_state_dict(state_dict())`` restores
the fitted calibrator exactly.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from torchrack.testing._subject import CheckError, Subject, describe

#: The size of the held-out case every check fits on, and how often its argmax is right.
SAMPLES = 64
RIGHT_SHARE = 0.7
#: How much sharper than standard-normal logits the case is: over-confident, as trained nets are.
SHARPNESS = 4.0
#: Slack allowed on "lowers or keeps the NLL": relative, plus absolute (float rounding).
NLL_SLACK = (1e-4, 1e-6)

METHODS = ("fit", "__call__", "state_dict", "load_state_dict")


def held_out(s: Subject) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed case: logits ``[SAMPLES, K]`` as declared, and class indices that agree with
    their argmax for about :data:`RIGHT_SHARE` of the samples (no draw from the global RNG)."""
    inputs = s.inputs(n=SAMPLES, seed=7)
    logits = inputs.get("logits")
    if logits is None or logits.dim() != 2 or not logits.is_floating_point():
        raise CheckError("a calibrator declares an input 'logits' of shape [N, K] and a floating dtype")
    gen = torch.Generator().manual_seed(11)
    k = int(logits.shape[1])
    logits = logits * SHARPNESS
    wrong = torch.randint(0, max(k, 1), (SAMPLES,), generator=gen)
    right = torch.rand(SAMPLES, generator=gen) < RIGHT_SHARE
    targets = torch.where(right, logits.argmax(dim=1), wrong)
    return logits, targets


def nll(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean negative log-likelihood of ``targets`` under ``softmax(logits)``, in float64."""
    return float(torch.nn.functional.cross_entropy(logits.double(), targets))


def shape_problems(obj: Any) -> list[str]:
    """What a calibrator must have: ``fit``, ``__call__``, ``state_dict``, ``load_state_dict``."""
    missing = [m for m in METHODS if not callable(getattr(obj, m, None))]
    if missing:
        return [f"a calibrator needs {', '.join(f'`{m}`' for m in missing)} "
                "(docs/plugin-contract.md, calibrators)"]
    return []


def fit(obj: Any, logits: torch.Tensor, targets: torch.Tensor) -> Any:
    """``obj.fit(logits, targets)``; a failure is a :class:`CheckError` saying what was fitted."""
    try:
        obj.fit(logits, targets)
    except Exception as exc:  # noqa: BLE001 - a component may raise anything
        raise CheckError(f"fit(logits {list(logits.shape)}, targets {list(targets.shape)}) raised "
                         f"{describe(exc)}") from exc
    return obj


def apply(obj: Any, logits: torch.Tensor) -> torch.Tensor:
    """``obj(logits)``, checked to be a tensor."""
    try:
        out = obj(logits)
    except Exception as exc:  # noqa: BLE001
        raise CheckError(f"calling it with logits {list(logits.shape)} raised {describe(exc)}") from exc
    if not isinstance(out, torch.Tensor):
        raise CheckError(f"calling it must return a tensor of calibrated logits, found {type(out).__name__}")
    return out


def exercise(s: Subject, obj: Any) -> None:
    """Use a built calibrator as ``torchrack eval --calibrate`` does (the ``global_state`` check)."""
    logits, targets = held_out(s)
    apply(fit(obj, logits, targets), logits)


def check_calibration_fit(s: Subject) -> list[str]:
    """Fitting on over-confident held-out logits lowers or keeps their NLL; the output fits the
    declared ``logits`` spec, is finite, and the inputs are left unchanged."""
    logits, targets = held_out(s)
    before_logits, before_targets = logits.clone(), targets.clone()
    obj = s.build()
    problems = shape_problems(obj)
    if problems:
        return problems
    out = apply(fit(obj, logits, targets), logits)
    if not torch.equal(logits, before_logits) or not torch.equal(targets, before_targets):
        problems.append("fit() or the call changed its inputs in place; work on copies")
    problems += s.check_outputs([out], {"logits": logits, "targets": targets})
    if problems:
        return problems
    if out.device != logits.device:
        problems.append(f"given logits on {logits.device}, returns logits on {out.device}")
    if not bool(torch.isfinite(out).all()):
        return problems + ["returns non-finite logits"]
    before, after = nll(logits, targets), nll(out, targets)
    rel, abs_ = NLL_SLACK
    if after > before * (1 + rel) + abs_:
        problems.append(f"fitting it on held-out logits raises their NLL from {before:.6f} to {after:.6f}; "
                        "fit() should minimise it (leaving the logits alone would keep it)")
    return problems


def _state(obj: Any) -> Mapping[str, Any]:
    try:
        state = obj.state_dict()
    except Exception as exc:  # noqa: BLE001
        raise CheckError(f"state_dict() raised {describe(exc)}") from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckError(f"state_dict() must return a dict of tensors (the fitted parameters), "
                         f"found {type(state).__name__}")
    return state


def check_calibrator_state(s: Subject) -> list[str]:
    """``load_state_dict(state_dict())`` on a new instance gives the fitted calibrator's outputs."""
    logits, targets = held_out(s)
    fitted = fit(s.build(), logits, targets)
    state = copy.deepcopy(dict(_state(fitted)))
    again = s.build()
    try:
        again.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001
        return [f"load_state_dict(state_dict()) raised {describe(exc)}"]
    a, b = apply(fitted, logits), apply(again, logits)
    if a.shape != b.shape or not torch.equal(a, b):
        return ["a new calibrator loaded with a fitted one's state_dict() gives different logits"]
    return []


def check_deterministic(s: Subject) -> list[str]:
    """Two calibrators fitted on the same logits give identical outputs."""
    logits, targets = held_out(s)
    outs = [apply(fit(s.build(), logits, targets), logits) for _ in range(2)]
    if outs[0].shape != outs[1].shape or not torch.equal(outs[0], outs[1]):
        return ["two calibrators fitted on the same logits give different outputs; fit "
                "deterministically (seeded torch.Generator, no global RNG)"]
    return []
