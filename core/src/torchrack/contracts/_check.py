"""Checking real (or ``meta``) tensors against a component's declared tensor specs.

Used by ``torchrack validate`` (the meta-device dry run), by the conformance checks and by plugin
tests. torch is never imported here: callers pass tensors, and only their ``shape``, ``dtype`` and
``is_contiguous`` are read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torchrack.contracts._tensorspec import dtype_matches, format_shape, resolve, substitute, unify


def check_tensor(
    spec: Mapping[str, Any],
    tensor: Any,
    params: Mapping[str, Any] | None = None,
    bindings: dict[str, int] | None = None,
) -> str | None:
    """None when ``tensor`` satisfies ``spec`` (a manifest tensor spec), else what differs.

    ``params`` resolves ``$param`` dims; ``bindings`` carries symbol sizes (``N``, ``C``) across
    calls so that one symbol has one size across a whole pipeline.
    """
    bindings = {} if bindings is None else bindings
    ts = resolve(spec, params or {})
    shape = tuple(int(s) for s in tensor.shape)
    expected = format_shape(substitute(ts, bindings))
    problem = unify(ts, shape, bindings)
    if problem:
        return f"expected shape {expected}, found {format_shape(shape)}: {problem}"
    dtype = str(tensor.dtype).removeprefix("torch.")
    if not dtype_matches(ts.dtype, dtype):
        return f"expected dtype {' or '.join(ts.dtype)}, found {dtype}"
    if ts.layout != "any" and len(shape) == 4:
        import torch

        fmt = torch.channels_last if ts.layout == "channels_last" else torch.contiguous_format
        if not tensor.is_contiguous(memory_format=fmt):
            return f"expected {ts.layout} memory layout"
    return None


def check_tensors(
    specs: Mapping[str, Mapping[str, Any]],
    tensors: Sequence[Any] | Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
    bindings: dict[str, int] | None = None,
    who: str = "component",
) -> list[str]:
    """Check several tensors against specs given by name (and, for a sequence, in order).

    Returns one sentence per problem, each naming ``who`` and the tensor, empty when all match.
    """
    bindings = {} if bindings is None else bindings
    if isinstance(tensors, Mapping):
        pairs = [(name, tensors.get(name)) for name in specs]
    else:
        tensors = list(tensors)
        if len(tensors) != len(specs):
            return [f"{who} declares {len(specs)} tensors ({', '.join(specs)}), found {len(tensors)}"]
        pairs = list(zip(specs, tensors, strict=True))
    problems = []
    for name, tensor in pairs:
        if tensor is None:
            problems.append(f"{who}: tensor {name!r} is missing")
            continue
        problem = check_tensor(specs[name], tensor, params, bindings)
        if problem:
            problems.append(f"{who} {name!r}: {problem}")
    return problems
