"""Losses against their manifest on the meta device and CPU; gradients; input handling."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from torchrack import Registry
from torchrack.contract import check_tensors
from torchrack.contracts import params_with_defaults, validate_params

DIST = "torchrack-losses"
K = 4

CASES: list[tuple[str, dict[str, Any]]] = [
    ("cross_entropy", {}),
    ("cross_entropy", {"label_smoothing": 0.1, "weight": [1.0, 2.0, 0.5, 1.0]}),
    ("focal", {}),
    ("focal", {"gamma": 1.0, "alpha": [0.25, 0.5, 0.75, 1.0]}),
    ("focal", {"alpha": 0.25}),
    ("bce_with_logits", {}),
    ("bce_with_logits", {"pos_weight": [1.0, 2.0, 3.0, 4.0], "label_smoothing": 0.1}),
    ("mse", {}),
    ("mse", {"on": "logits"}),
]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover()


def build(registry: Registry, name: str, params: dict[str, Any]) -> tuple[nn.Module, Any, dict[str, Any]]:
    comp = registry.resolve("loss", f"{DIST}:{name}")
    assert not validate_params(comp.params_schema, params)
    full = params_with_defaults(comp.params_schema, params)
    return registry.load(comp)(**full), comp, full


def targets_of(kind: str, n: int) -> torch.Tensor:
    if kind == "hard":
        return torch.arange(n) % K
    return torch.full((n, K), 1.0 / K)


def test_every_component_is_covered(registry: Registry) -> None:
    names = {c.name for c in registry.components("loss") if c.dist == DIST}
    assert names == {c[0] for c in CASES}


@pytest.mark.parametrize("targets", ["hard", "soft"])
@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize(("name", "params"), CASES)
def test_outputs_match_declared_specs(
    registry: Registry, device: str, targets: str, name: str, params: dict[str, Any]
) -> None:
    with torch.device(device):
        loss_fn, comp, full = build(registry, name, params)
        logits = torch.randn(6, K)
        t = targets_of(targets, 6)
    bindings: dict[str, int] = {}
    assert not check_tensors(comp.inputs, [logits, t], params=full, bindings=bindings, who=name)
    loss = loss_fn(logits, t)
    assert loss.device.type == device
    assert not check_tensors(comp.outputs, [loss], params=full, bindings=bindings, who=name)


@pytest.mark.parametrize("targets", ["hard", "soft"])
@pytest.mark.parametrize(("name", "params"), CASES)
def test_gradients_flow_and_inputs_are_untouched(
    registry: Registry, targets: str, name: str, params: dict[str, Any]
) -> None:
    loss_fn, _, _ = build(registry, name, params)
    logits = torch.randn(6, K, requires_grad=True)
    t = targets_of(targets, 6)
    before = (logits.detach().clone(), t.clone())
    loss = loss_fn(logits, t)
    loss.backward()
    assert torch.isfinite(loss)
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert torch.equal(logits.detach(), before[0]) and torch.equal(t, before[1])


@pytest.mark.parametrize(("name", "params"), CASES)
def test_low_precision_keeps_dtype(registry: Registry, name: str, params: dict[str, Any]) -> None:
    loss_fn, _, _ = build(registry, name, params)
    logits = torch.randn(6, K, dtype=torch.bfloat16)
    assert loss_fn(logits, targets_of("hard", 6)).dtype == torch.bfloat16
    assert loss_fn(logits, targets_of("soft", 6)).dtype == torch.bfloat16


@pytest.mark.parametrize("name", ["cross_entropy", "focal", "bce_with_logits", "mse"])
def test_bad_targets_are_named(registry: Registry, name: str) -> None:
    loss_fn, _, _ = build(registry, name, {})
    with pytest.raises(ValueError, match="targets must be hard"):
        loss_fn(torch.randn(3, K), torch.rand(3, K + 1))
    with pytest.raises(ValueError, match="targets must be hard"):
        loss_fn(torch.randn(3, K), torch.rand(3))  # floating [N]: neither hard nor soft


def test_class_vectors_must_have_k_entries(registry: Registry) -> None:
    loss_fn, _, _ = build(registry, "focal", {"alpha": [1.0, 2.0]})
    with pytest.raises(ValueError, match="alpha has 2 entries for 4 classes"):
        loss_fn(torch.randn(3, K), torch.tensor([0, 1, 2]))


def test_schema_catches_typos_and_bad_values(registry: Registry) -> None:
    comp = registry.resolve("loss", f"{DIST}:focal")
    assert validate_params(comp.params_schema, {"gama": 2.0})
    assert validate_params(comp.params_schema, {"gamma": -1.0})
    assert not validate_params(comp.params_schema, {"alpha": [0.1, 0.9]})
