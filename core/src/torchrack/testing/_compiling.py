"""The ``compile`` conformance check: a component runs under ``torch.compile(fullgraph=True)``.

A training step compiled as one graph (``compile_scope = "step"`` of the first-party
accelerators) needs every component in it to trace without a graph break: an ``.item()``, a
``print``, a Python branch on a tensor's value or an unsupported call splits the graph, and with
``fullgraph=True`` stops the compile. The check calls the component as its kind's contract says
(an augmentation with a seeded generator, a metric's ``update``, anything else called on its
inputs; modules in train mode) once eagerly and once compiled with :data:`BACKEND`, a backend that
traces exactly what inductor would be given but runs the captured graph eagerly, so it is quick on
the CPU. It reports every graph break with its reason and where in the component's code it is
(from ``torch._dynamo.explain``), and an output that differs from the eager one.

The check is opt-in (it costs a compile per component): ``compile = true`` in
``[tool.torchrack.conformance]``, ``--torchrack-compile`` with the pytest plugin,
``TORCHRACK_CONFORMANCE_COMPILE=1``, or ``compile=True`` to :func:`parametrize_conformance`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import torch

from torchrack.testing._subject import CheckError, Subject, close, describe, is_module, same

#: The backend of the check: dynamo's full capture (guards, fake tensors, the graph) without
#: inductor's code generation. ``TORCHRACK_COMPILE_BACKEND`` chooses another ("aot_eager" also
#: traces the backward; "inductor" generates code and takes much longer).
BACKEND = "eager"
#: How close the compiled outputs must be to the eager ones (relative, absolute).
TOLERANCE = (1e-4, 1e-5)


def backend() -> str:
    return os.environ.get("TORCHRACK_COMPILE_BACKEND") or BACKEND


def _callable(s: Subject, obj: Any, generator: torch.Generator | None) -> Callable[..., Any]:
    """The function compiled: the component called as its kind's contract says."""
    if s.kind == "augmentation":
        def augment(*args: torch.Tensor) -> Any:
            return obj(*args, generator=generator)
        return augment
    if s.kind == "metric":
        def update(*args: torch.Tensor) -> None:
            obj.update(*args)
        return update

    def call(*args: torch.Tensor) -> Any:
        return obj(*args)
    return call


def _build(s: Subject) -> Any:
    torch.manual_seed(0)
    obj = s.build()
    if is_module(obj):
        obj.train()
    return obj


def _outputs(s: Subject, obj: Any, out: Any) -> list[Any]:
    if s.kind == "metric":
        try:
            return list(obj.state().values())
        except Exception as exc:  # noqa: BLE001
            raise CheckError(f"state() raised {describe(exc)}") from exc
    return list(out) if isinstance(out, (tuple, list)) else [out]


def break_reasons(fn: Callable[..., Any], args: Sequence[Any]) -> list[str]:
    """Every graph break ``torch._dynamo.explain`` finds in ``fn(*args)``: the reason, and the
    innermost frame of the user's code where it happens."""
    import torch._dynamo

    torch._dynamo.reset()
    explanation = torch._dynamo.explain(fn)(*args)
    reasons = []
    for r in explanation.break_reasons:
        text = " ".join(str(r.reason).split())
        if len(text) > 300:
            text = text[:297] + "..."
        where = ""
        stack = [f for f in (r.user_stack or [])
                 if "/torch/" not in f.filename and not f.filename.endswith("_compiling.py")]
        if stack:
            f = stack[-1]
            where = f" (at {f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name})"
        if text + where not in reasons:
            reasons.append(text + where)
    return reasons


def _reason_of(exc: BaseException) -> str:
    """The reason and the innermost user frame of a failed ``fullgraph`` compile."""
    text = str(exc)
    head = text.split("Developer debug context")[0].split("from user code")[0]
    reason = " ".join(f"{type(exc).__name__}: {head}".split())
    if len(reason) > 300:
        reason = reason[:297] + "..."
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\w+)', text.split("from user code", 1)[-1])
    frames = [f for f in frames if "/torch/" not in f[0] and not f[0].endswith("_compiling.py")]
    if frames:
        path, line, func = frames[-1]
        reason += f" (at {path.rsplit('/', 1)[-1]}:{line} in {func})"
    return reason


def check_compile(s: Subject) -> list[str]:
    """Runs under torch.compile(fullgraph=True) with no graph break and the same outputs as eager."""
    import torch._dynamo

    inputs = s.inputs()
    args = list(inputs.values())
    eager_obj, compiled_obj = _build(s), _build(s)  # alike: built under the same seed

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0) if s.kind == "augmentation" else None
    eager = _outputs(s, eager_obj, s.call(eager_obj, inputs, gen))

    torch._dynamo.reset()
    gen = torch.Generator().manual_seed(0) if s.kind == "augmentation" else None
    compiled = torch.compile(_callable(s, compiled_obj, gen), backend=backend(), fullgraph=True)
    torch.manual_seed(0)
    try:
        out = compiled(*args)
    except Exception as exc:  # noqa: BLE001 - Unsupported, or the component raising when traced
        probe_obj = _build(s)
        try:
            reasons = break_reasons(_callable(s, probe_obj, torch.Generator().manual_seed(0)), args)
        except Exception:  # noqa: BLE001 - explain itself failed: report the compile error
            reasons = []
        finally:
            torch._dynamo.reset()
        if not reasons:
            reasons = [_reason_of(exc)]
        hint = ("; keep the call free of .item()/.tolist(), print, and Python branches on tensor values "
                "(use torch.where)")
        if any("Generator" in r for r in reasons):
            hint += ("; a torch.Generator cannot be traced: draw with generator=None while "
                     "torch.compiler.is_compiling() (the caller seeds the default RNG)")
        return [f"graph break under torch.compile(fullgraph=True): {r}{hint}" for r in reasons]
    finally:
        torch._dynamo.reset()
    got = _outputs(s, compiled_obj, out)
    if len(got) != len(eager):
        return [f"compiled, it gives {len(got)} outputs; eagerly {len(eager)}"]
    problems = []
    rel, abs_ = TOLERANCE
    for i, (a, b) in enumerate(zip(eager, got, strict=True)):
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
            if a.shape != b.shape or a.dtype != b.dtype:
                problems.append(f"output {i} is {b.dtype} {list(b.shape)} compiled, {a.dtype} {list(a.shape)} eagerly")
                continue
            ok = close(a.detach(), b.detach(), rel, abs_) if a.is_floating_point() else same(a, b)
        else:
            ok = close(a, b, rel, abs_)
        if not ok:
            problems.append(f"output {i} differs between compiled and eager runs (beyond rel {rel}, abs {abs_})")
    return problems

