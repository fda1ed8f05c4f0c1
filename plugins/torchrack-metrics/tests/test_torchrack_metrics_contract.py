"""Metrics through the registry: params schemas, input specs, meta-device updates."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torchrack import Registry
from torchrack.contract import check_tensors
from torchrack.contracts import params_with_defaults, validate_params

DIST = "torchrack-metrics"
K = 5

CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("accuracy", {}, {"accuracy"}),
    ("accuracy", {"top_k": 3}, {"top3_accuracy"}),
    ("nll", {}, {"nll"}),
    ("ece", {}, {"ece"}),
    ("ece", {"n_bins": 4}, {"ece"}),
    ("confusion_matrix", {"num_classes": K}, {"confusion_matrix"}),
]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover()


def build(registry: Registry, name: str, params: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    comp = registry.resolve("metric", f"{DIST}:{name}")
    assert not validate_params(comp.params_schema, params)
    full = params_with_defaults(comp.params_schema, params)
    return registry.load(comp)(**full), comp, full


def test_every_component_is_covered(registry: Registry) -> None:
    names = {c.name for c in registry.components("metric") if c.dist == DIST}
    assert names == {c[0] for c in CASES}
    for comp in registry.components("metric"):
        if comp.dist == DIST:
            assert not comp.outputs and list(comp.inputs) == ["logits", "targets"]


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize(("name", "params", "keys"), CASES)
def test_update_on_each_device(
    registry: Registry, device: str, soft: bool, name: str, params: dict[str, Any], keys: set[str]
) -> None:
    metric, comp, full = build(registry, name, params)
    with torch.device(device):
        logits = torch.randn(8, K)
        targets = torch.rand(8, K).softmax(1) if soft else torch.arange(8) % K
    assert not check_tensors(comp.inputs, [logits, targets], params=full, who=name)
    before = logits.clone()
    metric.update(logits, targets)
    state = metric.state()
    assert state and all(v.device.type == device for v in state.values())
    if device == "meta":
        return  # shapes and dtypes only: there are no values to report
    assert torch.equal(logits, before)
    result = metric.compute()
    assert set(result) == keys
    assert all(not isinstance(v, torch.Tensor) for v in result.values())


def test_schema_catches_typos(registry: Registry) -> None:
    comp = registry.resolve("metric", f"{DIST}:accuracy")
    assert validate_params(comp.params_schema, {"topk": 5})
    assert validate_params(comp.params_schema, {"top_k": 0})
