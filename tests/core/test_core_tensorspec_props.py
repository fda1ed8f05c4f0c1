"""Property tests for tensor-spec unification (kept apart from the example tables)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from torchrack import TensorSpec
from torchrack.contracts._tensorspec import substitute, unify

sizes = st.lists(st.integers(min_value=0, max_value=64), max_size=6)
symbols = st.sampled_from(["N", "C", "H", "W", "K"])


@given(shape=sizes, data=st.data())
def test_a_matching_shape_binds_symbols_that_reproduce_it(shape: list[int], data: st.DataObject) -> None:
    dims = [data.draw(st.one_of(symbols, st.just("*"), st.just(s))) for s in shape]
    bindings: dict[str, int] = {}
    problem = unify(TensorSpec(tuple(dims)), shape, bindings)
    consistent = all(
        shape[i] == shape[j]
        for i, a in enumerate(dims) for j, b in enumerate(dims)
        if isinstance(a, str) and a == b and a != "*"
    )
    assert (problem is None) == consistent
    if problem is None:
        resolved = substitute(TensorSpec(tuple(dims)), bindings)
        assert all(r == s for r, s, d in zip(resolved, shape, dims, strict=True) if d != "*")


@given(batch=st.integers(min_value=0, max_value=64), rest=sizes)
def test_leading_symbol_then_ellipsis_matches_any_trailing_dims(batch: int, rest: list[int]) -> None:
    bindings: dict[str, int] = {}
    assert unify(TensorSpec(("N", "...")), [batch, *rest], bindings) is None
    assert bindings == {"N": batch}
