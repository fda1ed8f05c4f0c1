"""The conformance checks catch planted faults, each with a message naming the check and component."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from _fakeplugin import IMAGES, LABELS, LOGITS, spec, write_plugin
from torchrack import Registry
from torchrack.testing import ConformanceFailure, check_component, conformance_cases

CODE = '''
import torch
import torch.nn.functional as F
from torch import nn


class GoodLoss(nn.Module):
    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, logits, targets):
        if targets.is_floating_point():
            return -(targets * logits.log_softmax(1)).sum(1).mean() * self.scale
        return F.cross_entropy(logits, targets) * self.scale


class VectorLoss(GoodLoss):
    def forward(self, logits, targets):
        return F.cross_entropy(logits, targets, reduction="none")


class GoodHead(nn.Module):
    def __init__(self, in_features: int = 8, num_classes: int = 4):
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, features):
        return self.fc(features)


class WideHead(GoodHead):
    def __init__(self, in_features: int = 8, num_classes: int = 4):
        super().__init__(in_features, num_classes + 1)


class DtypeHead(GoodHead):
    def __init__(self, in_features: int = 8, num_classes: int = 4):
        torch.set_default_dtype(torch.float64)
        super().__init__(in_features, num_classes)


class ClampAug:
    def __init__(self, high: float = 0.5):
        self.high = high

    def __call__(self, inputs, targets, generator=None):
        return inputs.clamp_(0, self.high), targets


class NoisyAug:
    def __init__(self, std: float = 0.1):
        self.std = std

    def __call__(self, inputs, targets, generator=None):
        return inputs + self.std * torch.randn(inputs.shape), targets
'''

LOSS = {"inputs": {"logits": LOGITS, "targets": {"shape": ["N", "..."], "dtype": ["int64", "floating"]}},
        "outputs": {"loss": {"shape": [], "dtype": "floating"}}}
HEAD = {"inputs": {"features": {"shape": ["N", "$in_features"], "dtype": "floating"}},
        "outputs": {"logits": {"shape": ["N", "$num_classes"], "dtype": "floating"}}}
AUG = {"inputs": {"inputs": IMAGES, "targets": LABELS}, "outputs": {"inputs": IMAGES, "targets": LABELS}}

COMPONENTS = {
    "good_loss": spec("loss", "GoodLoss", {"scale": 1.0}, **LOSS),
    "vector_loss": spec("loss", "VectorLoss", {"scale": 1.0}, **LOSS),
    "good_head": spec("head", "GoodHead", {"in_features": 8, "num_classes": 4}, **HEAD),
    "wide_head": spec("head", "WideHead", {"in_features": 8, "num_classes": 4}, **HEAD),
    "dtype_head": spec("head", "DtypeHead", {"in_features": 8, "num_classes": 4}, **HEAD),
    "clamp_aug": spec("augmentation", "ClampAug", {"high": 0.5}, **AUG),
    "noisy_aug": spec("augmentation", "NoisyAug", {"std": 0.1}, **AUG),
}

LINE = re.compile(r"^\[(?P<check>[a-z_]+)\] (?P<kind>[a-z]+) (?P<who>[a-z-]+:[a-z_]+): .+")


@pytest.fixture
def registry(fake_site: Path) -> Registry:
    write_plugin(fake_site, "fake-faults", CODE, COMPONENTS)
    return Registry.discover(path=[str(fake_site)], use_cache=False)


@pytest.mark.parametrize("name", ["good_loss", "good_head"])
def test_a_conforming_component_passes_every_check(registry: Registry, name: str) -> None:
    results = check_component(f"fake-faults:{name}", registry=registry)
    assert results and all(r.status in ("passed", "skipped") for r in results)
    assert {r.check for r in results} >= {"outputs_cpu", "outputs_meta", "gradients", "global_state"}


PLANTED = [
    # component, kind, the check that must fail, what the message must say
    ("wide_head", "head", "outputs_cpu", "expected shape [4, 4], found [4, 5]"),
    ("clamp_aug", "augmentation", "no_inplace", "changed its input 'inputs' in place"),
    ("noisy_aug", "augmentation", "deterministic", "generators seeded alike give different outputs"),
    ("vector_loss", "loss", "finite_scalar", "expected a scalar (shape [])"),
    ("dtype_head", "head", "global_state", "changed the default dtype from torch.float32 to torch.float64"),
]


@pytest.mark.parametrize(("name", "kind", "check", "says"), PLANTED, ids=[p[2] for p in PLANTED])
def test_a_planted_fault_fails_its_check_naming_check_and_component(
    registry: Registry, name: str, kind: str, check: str, says: str
) -> None:
    with pytest.raises(ConformanceFailure) as excinfo:
        check_component(f"fake-faults:{name}", registry=registry)
    failures = excinfo.value.failures
    mine = [f for f in failures if f.startswith(f"[{check}] {kind} fake-faults:{name}: ")]
    assert mine, failures
    assert any(says in f for f in mine), mine
    for line in failures:  # every message names its check and the component
        m = LINE.match(line)
        assert m and m["who"] == f"fake-faults:{name}", line
    assert torch.get_default_dtype() == torch.float32  # the harness restored the global state


def test_the_noisy_augmentation_is_also_caught_drawing_from_the_global_rng(registry: Registry) -> None:
    with pytest.raises(ConformanceFailure) as excinfo:
        check_component("fake-faults:noisy_aug", registry=registry, checks=["global_state"])
    assert "[global_state] augmentation fake-faults:noisy_aug: calling it drew from torch's global RNG" in str(
        excinfo.value
    )


def test_the_vector_loss_also_fails_its_output_spec(registry: Registry) -> None:
    with pytest.raises(ConformanceFailure) as excinfo:
        check_component("fake-faults:vector_loss", registry=registry, checks=["outputs_cpu", "outputs_meta"])
    failures = excinfo.value.failures
    assert [f.split("]")[0] for f in failures] == ["[outputs_cpu", "[outputs_meta"]
    assert all("output 'loss': expected shape [], found [4]" in f for f in failures)


def test_cases_have_one_id_per_component_and_check(registry: Registry) -> None:
    ids = [c.id for c in conformance_cases("fake-faults", registry=registry)]
    assert len(ids) == len(set(ids))
    assert ids[0] == "fake-faults::manifest"
    assert "fake-faults:vector_loss::finite_scalar" in ids
    assert "fake-faults:good_head::gradients" in ids
    assert not any(i.startswith("fake-faults:clamp_aug::gradients") for i in ids)  # not for augmentations


def test_a_known_failure_must_match_a_case(registry: Registry) -> None:
    from torchrack.testing import ConformanceConfigError

    with pytest.raises(ConformanceConfigError, match="did you mean 'fake-faults:vector_loss::finite_scalar'"):
        conformance_cases("fake-faults", registry=registry, known_failures=["fake-faults:vector_loss::finite_scaler"])


def test_a_required_param_without_default_skips_with_the_fix(fake_site: Path) -> None:
    code = "class Needs:\n    def __init__(self, path):\n        self.path = path\n"
    entry = spec("head", "Needs", **HEAD)
    entry["params"] = {"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}}
    write_plugin(fake_site, "fake-needs", code, {"needs": entry})
    reg = Registry.discover(path=[str(fake_site)], use_cache=False)
    results = {c.check: c.result() for c in conformance_cases("fake-needs", registry=reg)}
    assert results["instantiate"].status == "skipped"
    assert "needs params without defaults (path)" in results["instantiate"].reason
