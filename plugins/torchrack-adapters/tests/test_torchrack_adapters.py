"""Adapters against their manifest (meta and CPU) and each one's formula."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torchrack import Registry
from torchrack.contract import check_tensors
from torchrack.contracts import params_with_defaults, validate_params

DIST = "torchrack-adapters"

CASES: list[tuple[str, dict[str, Any], tuple[int, ...]]] = [
    ("global_pool", {}, (3, 5, 4, 4)),
    ("global_pool", {"mode": "max"}, (3, 5, 2, 3, 2)),
    ("flatten", {}, (3, 2, 4, 4)),
    ("linear_projection", {"in_features": 6, "out_features": 2}, (3, 6)),
    ("layout", {"to": "nhwc"}, (3, 5, 4, 2)),
    ("layout", {"to": "nchw"}, (3, 4, 2, 5)),
    ("cast", {"dtype": "float64"}, (3, 7)),
]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover()


def build(registry: Registry, name: str, params: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    comp = registry.resolve("adapter", f"{DIST}:{name}")
    assert not validate_params(comp.params_schema, params)
    full = params_with_defaults(comp.params_schema, params)
    return registry.load(comp)(**full), comp, full


def test_every_component_is_covered(registry: Registry) -> None:
    names = {c.name for c in registry.components("adapter") if c.dist == DIST}
    assert names == {c[0] for c in CASES}


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize(("name", "params", "shape"), CASES)
def test_outputs_match_declared_specs(registry: Registry, device: str, name: str,
                                      params: dict[str, Any], shape: tuple[int, ...]) -> None:
    with torch.device(device):
        adapter, comp, full = build(registry, name, params)
        x = torch.randn(*shape)
    bindings: dict[str, int] = {}
    assert not check_tensors(comp.inputs, [x], params=full, bindings=bindings, who=name)
    y = adapter(x)
    assert y.device.type == device
    assert not check_tensors(comp.outputs, [y], params=full, bindings=bindings, who=name)


def test_formulas(registry: Registry) -> None:
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    avg, _, _ = build(registry, "global_pool", {})
    mx, _, _ = build(registry, "global_pool", {"mode": "max"})
    assert torch.equal(avg(x), x.mean(dim=(2, 3)))
    assert torch.equal(mx(x), x[:, :, 1, 1])  # arange: the last element of each map is its max
    flat, _, _ = build(registry, "flatten", {})
    assert flat(x).shape == (2, 12) and torch.equal(flat(x)[1], x[1].reshape(-1))
    nhwc, _, _ = build(registry, "layout", {"to": "nhwc"})
    nchw, _, _ = build(registry, "layout", {"to": "nchw"})
    assert nhwc(x)[0, 1, 0, 2] == x[0, 2, 1, 0]
    assert torch.equal(nchw(nhwc(x)), x)
    cast, _, _ = build(registry, "cast", {"dtype": "bfloat16"})
    assert cast(x).dtype == torch.bfloat16
    torch.manual_seed(0)
    proj, _, _ = build(registry, "linear_projection", {"in_features": 3, "out_features": 2})
    f = torch.randn(4, 3)
    torch.testing.assert_close(proj(f), f @ proj.fc.weight.T + proj.fc.bias)


def test_bad_params_are_refused_naming_the_adapter() -> None:
    from torchrack_adapters.adapters import Cast, GlobalPool, Layout

    with pytest.raises(ValueError, match="global_pool: mode"):
        GlobalPool(mode="sum")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="layout: to"):
        Layout(to="hwc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cast: dtype"):
        Cast(dtype="int8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="4-dim"):
        Layout()(torch.zeros(2, 3))
