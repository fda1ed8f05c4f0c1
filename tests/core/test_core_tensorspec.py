"""Tensor specs: parameter expressions, symbol unification and dtype classes, as tables."""

from __future__ import annotations

from typing import Any

import pytest
from torchrack import InvalidTensorSpecError, TensorSpec
from torchrack.contracts._tensorspec import dtype_matches, eval_dim, format_shape, resolve, substitute, unify

PARAMS = {"width": 64, "widths": [16, 32, 128], "num_classes": 10, "flag": True, "name": "abc", "neg": 3}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("$width", 64),
        ("$widths[-1]", 128),
        ("$widths[0]", 16),
        ("$width*4", 256),
        ("$width//2", 32),
        ("$width//3", 21),
        ("$num_classes+1", 11),
        ("$num_classes-1", 9),
        ("$widths[1]*2", 64),
    ],
)
def test_eval_dim(expr: str, expected: int) -> None:
    assert eval_dim(expr, PARAMS) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("$missing", "names param 'missing', which is not among the params"),
        ("$width[0]", "cannot be indexed"),
        ("$widths[7]", "cannot be indexed"),
        ("$widths", "expected an integer"),
        ("$flag", "expected an integer"),
        ("$name[0]", "expected an integer"),
        ("$width**2", "invalid dim expression"),
        ("$width/2", "invalid dim expression"),
        ("width", "invalid dim expression"),
        ("$width//0", "divides by zero"),
        ("$neg-5", "sizes are >= 0"),
    ],
)
def test_eval_dim_errors(expr: str, message: str) -> None:
    with pytest.raises(InvalidTensorSpecError, match=message):
        eval_dim(expr, PARAMS)


@pytest.mark.parametrize(
    ("spec", "shape", "dtype"),
    [
        ({"shape": ["N", "C", 32, 32]}, ("N", "C", 32, 32), ("any",)),
        ({"shape": ["N", "$width"], "dtype": "float32"}, ("N", 64), ("float32",)),
        ({"shape": ["...", "*"], "dtype": ["int64", "floating"]}, ("...", "*"), ("int64", "floating")),
        ({"shape": []}, (), ("any",)),
    ],
)
def test_resolve(spec: dict[str, Any], shape: tuple[Any, ...], dtype: tuple[str, ...]) -> None:
    ts = resolve(spec, PARAMS)
    assert ts == TensorSpec(shape, dtype, spec.get("layout", "any"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"dtype": "float32"}, "needs a 'shape' list"),
        ({"shape": ["...", "N", "..."]}, "'...' at most once"),
        ({"shape": [-1]}, "sizes are >= 0"),
        ({"shape": [1.5]}, "expected an integer or a string"),
        ({"shape": [True]}, "expected an integer or a string"),
        ({"shape": ["N-1"]}, "invalid dim 'N-1'"),
        ({"shape": ["$nope"]}, "not among the params"),
    ],
)
def test_resolve_errors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidTensorSpecError, match=message):
        resolve(spec, PARAMS)


@pytest.mark.parametrize(
    ("dims", "shape", "before", "problem", "after"),
    [
        (["N", "C", 32, 32], (8, 3, 32, 32), {}, None, {"N": 8, "C": 3}),
        (["N", "C", 32, 32], (8, 3, 28, 28), {}, "dim 2 must be 32, found 28", None),
        (["N", "K"], (8, 10), {"N": 8}, None, {"N": 8, "K": 10}),
        (["N", "K"], (4, 10), {"N": 8}, "dim 0 (N) is 8 elsewhere, found 4", None),
        (["N", "N"], (3, 4), {}, "dim 1 (N) is 3 elsewhere, found 4", None),
        (["*", 5], (99, 5), {}, None, {}),
        (["N", "K"], (8,), {}, "expected 2 dims, found 1", None),
        ([], (), {}, None, {}),
        ([], (1,), {}, "expected 0 dims, found 1", None),
        (["N", "..."], (8,), {}, None, {"N": 8}),
        (["N", "..."], (8, 1, 2, 3), {}, None, {"N": 8}),
        (["...", "C"], (2, 3, 4), {}, None, {"C": 4}),
        (["N", "...", "C"], (2, 3), {}, None, {"N": 2, "C": 3}),
        (["N", "...", "C"], (2,), {}, "expected at least 2 dims, found 1", None),
        (["...", 3], (2, 4), {}, "dim 0 must be 3, found 4", None),
    ],
)
def test_unify(
    dims: list[Any], shape: tuple[int, ...], before: dict[str, int], problem: str | None,
    after: dict[str, int] | None,
) -> None:
    bindings = dict(before)
    assert unify(TensorSpec(tuple(dims)), shape, bindings) == problem
    if after is not None:
        assert bindings == after


def test_symbols_carry_across_calls() -> None:
    bindings: dict[str, int] = {}
    assert unify(TensorSpec(("N", "F")), (8, 64), bindings) is None
    assert unify(TensorSpec(("F", "K")), (64, 10), bindings) is None
    assert unify(TensorSpec(("N", "K")), (8, 11), bindings) == "dim 1 (K) is 10 elsewhere, found 11"
    assert substitute(TensorSpec(("N", "K", "*")), bindings) == (8, 10, "*")
    assert format_shape(substitute(TensorSpec(("N", "Z")), bindings)) == "[8, Z]"


@pytest.mark.parametrize(
    ("allowed", "dtype", "ok"),
    [
        (["any"], "bool", True),
        (["float32"], "float32", True),
        (["float32"], "torch.float32", True),
        (["float32"], "float16", False),
        (["floating"], "bfloat16", True),
        (["floating"], "int64", False),
        (["integer"], "uint8", True),
        (["integer"], "float32", False),
        (["integer"], "bool", False),
        (["int64", "floating"], "float64", True),
        (["int64", "floating"], "int32", False),
    ],
)
def test_dtype_matches(allowed: list[str], dtype: str, ok: bool) -> None:
    assert dtype_matches(allowed, dtype) is ok
