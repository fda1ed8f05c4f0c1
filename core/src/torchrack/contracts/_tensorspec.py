"""Tensor specs: declared shapes with symbolic dims, checked against real (or meta) tensors.

A spec's shape is a list whose entries are:

- an integer: that exact size;
- a symbol (``"N"``, ``"C"``): any size, but the same size everywhere the symbol is used within
  one check (symbols are *unified* across the components of a pipeline);
- ``"*"``: any size, not unified;
- ``"..."``: any number of dims (at most once per shape);
- a parameter expression, ``"$name"``, ``"$name[-1]"``, ``"$name*4"``, ``"$name//2"``,
  ``"$name+1"``: the size computed from the component's params.

Nothing here imports torch: shapes are tuples of ints and dtypes are names (``"float32"``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from torchrack._errors import TorchrackError
from torchrack._record import FrozenRecord

Dim = int | str

_EXPR = re.compile(
    r"^\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)(\[(?P<index>-?[0-9]+)\])?"
    r"((?P<op>[*+-]|//)(?P<operand>[0-9]+))?$"
)
_SYMBOL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_FLOATING = {"float16", "bfloat16", "float32", "float64"}
_INTEGER = {"uint8", "int8", "int16", "int32", "int64"}


class InvalidTensorSpecError(TorchrackError, ValueError):
    """A tensor spec that cannot be interpreted (bad dim, unknown param in an expression)."""


class TensorSpec(FrozenRecord):
    """A spec whose parameter expressions are resolved: dims are ints, symbols, "*" or "..."."""

    _fields = ("shape", "dtype", "layout")
    shape: tuple[Dim, ...]
    dtype: tuple[str, ...]
    layout: str

    def __init__(self, shape: tuple[Dim, ...], dtype: tuple[str, ...] = ("any",), layout: str = "any") -> None:
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "layout", layout)

    def __str__(self) -> str:
        return format_shape(self.shape)


def format_shape(shape: Sequence[Any]) -> str:
    """``("N", 64)`` -> ``"[N, 64]"``."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def param_of(dim: Any) -> str | None:
    """The param a ``$`` dim expression reads (``"$widths[-1]"`` -> ``"widths"``), else None."""
    m = _EXPR.match(dim) if isinstance(dim, str) else None
    return m.group("name") if m else None


def eval_dim(expr: str, params: Mapping[str, Any]) -> int:
    """Evaluate a ``$param`` dim expression against ``params``."""
    m = _EXPR.match(expr)
    if not m:
        raise InvalidTensorSpecError(f"invalid dim expression {expr!r}")
    name = m.group("name")
    if name not in params:
        raise InvalidTensorSpecError(
            f"dim expression {expr!r} names param {name!r}, which is not among the params "
            f"({', '.join(sorted(params)) or 'none'})"
        )
    value = params[name]
    if m.group("index") is not None:
        try:
            value = value[int(m.group("index"))]
        except (TypeError, IndexError, KeyError):
            raise InvalidTensorSpecError(
                f"dim expression {expr!r}: param {name!r} = {value!r} cannot be indexed"
            ) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTensorSpecError(
            f"dim expression {expr!r}: param {name!r} gives {value!r}, expected an integer"
        )
    op, operand = m.group("op"), m.group("operand")
    if op is not None:
        k = int(operand)
        if op == "//" and k == 0:
            raise InvalidTensorSpecError(f"dim expression {expr!r} divides by zero")
        value = {"*": value * k, "+": value + k, "-": value - k}.get(op, value // k if k else 0)
    if value < 0:
        raise InvalidTensorSpecError(
            f"dim expression {expr!r} gives {value} with {name} = {params[name]!r}; sizes are >= 0"
        )
    return int(value)


def resolve(spec: Mapping[str, Any], params: Mapping[str, Any]) -> TensorSpec:
    """Turn a manifest spec (a dict) into a :class:`TensorSpec` with expressions evaluated."""
    if not isinstance(spec, Mapping) or "shape" not in spec:
        raise InvalidTensorSpecError(f"a tensor spec needs a 'shape' list, found {spec!r}")
    dims: list[Dim] = []
    ellipses = 0
    for d in spec["shape"]:
        if isinstance(d, bool) or not isinstance(d, (int, str)):
            raise InvalidTensorSpecError(f"invalid dim {d!r}: expected an integer or a string")
        if isinstance(d, int):
            if d < 0:
                raise InvalidTensorSpecError(f"invalid dim {d}: sizes are >= 0")
            dims.append(d)
        elif d.startswith("$"):
            dims.append(eval_dim(d, params))
        elif d in ("*", "...") or _SYMBOL.match(d):
            ellipses += d == "..."
            dims.append(d)
        else:
            raise InvalidTensorSpecError(f"invalid dim {d!r}")
    if ellipses > 1:
        raise InvalidTensorSpecError("a shape may contain '...' at most once")
    dtype = spec.get("dtype", "any")
    dtypes = (dtype,) if isinstance(dtype, str) else tuple(dtype)
    return TensorSpec(tuple(dims), dtypes, spec.get("layout", "any"))


def dtype_matches(allowed: Sequence[str], dtype: str) -> bool:
    """Whether dtype name ``dtype`` (``"float32"``, or ``"torch.float32"``) is allowed."""
    dtype = dtype.removeprefix("torch.")
    for a in allowed:
        if a in ("any", dtype):
            return True
        if a == "floating" and dtype in _FLOATING:
            return True
        if a == "integer" and dtype in _INTEGER:
            return True
    return False


def unify(
    spec: TensorSpec, shape: Sequence[int], bindings: dict[str, int]
) -> str | None:
    """Match a concrete ``shape`` against ``spec``, binding symbols in ``bindings``.

    Returns None when it matches, else a sentence saying which dim differs and why. Bindings made
    before a mismatch stay made; callers that need all-or-nothing pass a copy.
    """
    dims = list(spec.shape)
    shape = [int(s) for s in shape]
    if "..." in dims:
        i = dims.index("...")
        head, tail = dims[:i], dims[i + 1 :]
        if len(shape) < len(head) + len(tail):
            return f"expected at least {len(head) + len(tail)} dims, found {len(shape)}"
        pairs = list(zip(head, shape[: len(head)], strict=False)) + list(
            zip(tail, shape[len(shape) - len(tail) :], strict=False)
        )
    else:
        if len(shape) != len(dims):
            return f"expected {len(dims)} dims, found {len(shape)}"
        pairs = list(zip(dims, shape, strict=False))
    for pos, (want, got) in enumerate(pairs):
        if want == "*":
            continue
        if isinstance(want, int):
            if want != got:
                return f"dim {pos} must be {want}, found {got}"
        elif want in bindings:
            if bindings[want] != got:
                return f"dim {pos} ({want}) is {bindings[want]} elsewhere, found {got}"
        else:
            bindings[want] = got
    return None


def substitute(spec: TensorSpec, bindings: Mapping[str, int]) -> tuple[Dim, ...]:
    """The spec's shape with bound symbols replaced by their sizes (for messages)."""
    return tuple(bindings.get(d, d) if isinstance(d, str) else d for d in spec.shape)
