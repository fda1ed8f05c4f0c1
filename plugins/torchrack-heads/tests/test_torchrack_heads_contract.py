"""Heads against their manifest (meta and CPU), gradients, and each head's formula."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchrack import Registry
from torchrack.contract import check_tensors
from torchrack.contracts import params_with_defaults, validate_params

DIST = "torchrack-heads"

CASES: list[tuple[str, dict[str, Any]]] = [
    ("linear", {}),
    ("linear", {"in_features": 12, "num_classes": 3, "bias": False}),
    ("mlp", {}),
    ("mlp", {"in_features": 7, "hidden": 5, "num_classes": 4, "dropout": 0.5, "seed": 3}),
    ("cosine", {}),
    ("cosine", {"in_features": 6, "num_classes": 2, "init_scale": 4.0}),
]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover()


def build(registry: Registry, name: str, params: dict[str, Any]) -> tuple[nn.Module, Any, dict[str, Any]]:
    comp = registry.resolve("head", f"{DIST}:{name}")
    assert not validate_params(comp.params_schema, params)
    full = params_with_defaults(comp.params_schema, params)
    return registry.load(comp)(**full), comp, full


def test_every_component_is_covered(registry: Registry) -> None:
    names = {c.name for c in registry.components("head") if c.dist == DIST}
    assert names == {c[0] for c in CASES} == {"linear", "mlp", "cosine"}


@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize(("name", "params"), CASES)
def test_outputs_match_declared_specs(
    registry: Registry, device: str, train: bool, name: str, params: dict[str, Any]
) -> None:
    with torch.device(device):
        head, comp, full = build(registry, name, params)
        x = torch.randn(5, full["in_features"])
    head.train(train)
    bindings: dict[str, int] = {}
    assert not check_tensors(comp.inputs, [x], params=full, bindings=bindings, who=name)
    y = head(x)
    assert y.device.type == device
    assert not check_tensors(comp.outputs, [y], params=full, bindings=bindings, who=name)
    assert y.shape == (5, full["num_classes"])


@pytest.mark.parametrize(("name", "params"), CASES)
def test_gradients_flow(registry: Registry, name: str, params: dict[str, Any]) -> None:
    torch.manual_seed(0)
    head, _, full = build(registry, name, params)
    x = torch.randn(8, full["in_features"], requires_grad=True)
    F.cross_entropy(head(x), torch.arange(8) % full["num_classes"]).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for pname, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


def test_linear_is_an_affine_map() -> None:
    from torchrack_heads.linear import LinearHead

    head = LinearHead(in_features=4, num_classes=3)
    x = torch.randn(2, 4)
    torch.testing.assert_close(head(x), x @ head.fc.weight.t() + head.fc.bias)


def test_cosine_logits_are_scaled_cosines() -> None:
    from torchrack_heads.cosine import CosineHead

    head = CosineHead(in_features=5, num_classes=3, init_scale=7.0)
    x = torch.randn(4, 5)
    expected = 7.0 * F.cosine_similarity(x[:, None, :], head.weight[None, :, :], dim=2)
    torch.testing.assert_close(head(x), expected)
    assert head(x).abs().max() <= 7.0 + 1e-5
    torch.testing.assert_close(head(3.0 * x), head(x))  # invariant to the feature norm
    assert head.scale.requires_grad


def test_mlp_dropout_is_seeded_and_leaves_the_global_rng_alone() -> None:
    from torchrack_heads.mlp import MLPHead

    torch.manual_seed(0)
    a = MLPHead(in_features=6, hidden=32, num_classes=3, dropout=0.5, seed=11)
    b = MLPHead(in_features=6, hidden=32, num_classes=3, dropout=0.5, seed=11)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 6)
    rng = torch.get_rng_state()
    ya = a(x)
    assert torch.equal(torch.get_rng_state(), rng)
    torch.testing.assert_close(ya, b(x))
    a.eval()
    no_drop = a(x)
    a.train()
    assert not torch.allclose(a(x), no_drop)  # dropout is active in training mode
    hidden = a.act(a.fc1(x))
    dropped = a.dropout(hidden)
    kept = dropped != 0
    torch.testing.assert_close(dropped[kept], hidden[kept] * 2.0)  # inverted scaling 1/(1-p)
