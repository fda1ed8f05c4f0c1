"""Backbones against their manifest: specs on the meta device and CPU, gradients, layouts."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from torchrack import Registry
from torchrack.contract import check_tensors
from torchrack.contracts import params_with_defaults, validate_params

DIST = "torchrack-backbones"

# (name, params, input shape)
CASES: list[tuple[str, dict[str, Any], tuple[int, ...]]] = [
    ("mlp", {}, (4, 1, 8, 8)),
    ("mlp", {"in_features": 20, "widths": [16, 8, 5]}, (3, 20)),
    ("mlp", {"in_channels": 3, "height": 4, "width": 5, "widths": [7]}, (2, 3, 4, 5)),
    ("small_cnn", {}, (4, 1, 8, 8)),
    ("small_cnn", {"in_channels": 3, "widths": [8, 16, 24], "norm": "group"}, (2, 3, 16, 16)),
    ("small_cnn", {"widths": [4, 4, 4, 4, 6], "norm": "none"}, (2, 1, 8, 8)),
    ("small_cnn", {"in_channels": 3, "widths": [8, 16, 16, 24, 24], "pool_after": [1, 3]}, (2, 3, 16, 16)),
    ("resnet", {"depth": 8}, (2, 3, 32, 32)),
    ("resnet", {"depth": 14, "width": 8, "norm": "group", "in_channels": 1}, (2, 1, 8, 8)),
    ("resnet", {"depth": 20, "width": 4, "norm": "none"}, (2, 3, 16, 16)),
]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover()


def build(registry: Registry, name: str, params: dict[str, Any]) -> tuple[nn.Module, Any, dict[str, Any]]:
    comp = registry.resolve("backbone", f"{DIST}:{name}")
    assert not validate_params(comp.params_schema, params)
    full = params_with_defaults(comp.params_schema, params)
    return registry.load(comp)(**full), comp, full


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize(("name", "params", "shape"), CASES)
def test_outputs_match_declared_specs(
    registry: Registry, device: str, name: str, params: dict[str, Any], shape: tuple[int, ...]
) -> None:
    with torch.device(device):
        model, comp, full = build(registry, name, params)
        x = torch.randn(shape)
    bindings: dict[str, int] = {}
    assert not check_tensors(comp.inputs, [x], params=full, bindings=bindings, who=name)
    y = model(x)
    assert y.device.type == device
    assert not check_tensors(comp.outputs, [y], params=full, bindings=bindings, who=name)
    assert y.shape == (shape[0], model.out_features)


def test_every_component_is_covered(registry: Registry) -> None:
    names = {c.name for c in registry.components("backbone") if c.dist == DIST}
    assert names == {"mlp", "small_cnn", "resnet", "checkpoint"}
    assert {c[0] for c in CASES} | {"checkpoint"} == names


@pytest.mark.parametrize(("name", "params", "shape"), CASES)
def test_gradients_flow_to_every_parameter_and_the_input(
    registry: Registry, name: str, params: dict[str, Any], shape: tuple[int, ...]
) -> None:
    torch.manual_seed(0)
    model, _, _ = build(registry, name, params)
    x = torch.randn(shape, requires_grad=True)
    model(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize(("name", "params", "shape"), [c for c in CASES if len(c[2]) == 4])
def test_channels_last_gives_the_same_features(
    registry: Registry, name: str, params: dict[str, Any], shape: tuple[int, ...]
) -> None:
    torch.manual_seed(0)
    model, _, _ = build(registry, name, params)
    model.eval()
    x = torch.randn(shape)
    ref = model(x)
    model = model.to(memory_format=torch.channels_last)
    out = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_inputs_are_not_modified(registry: Registry) -> None:
    for name, params, shape in CASES:
        model, _, _ = build(registry, name, params)
        x = torch.randn(shape)
        before = x.clone()
        model(x)
        assert torch.equal(x, before), name


@pytest.mark.parametrize(
    ("norm", "kind"), [("batch", nn.BatchNorm2d), ("group", nn.GroupNorm), ("none", None)]
)
def test_resnet_norm_choice(norm: str, kind: type[nn.Module] | None) -> None:
    from torchrack_backbones.resnet import ResNet

    model = ResNet(depth=8, norm=norm)
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))]
    if kind is None:
        assert not norms
        assert not list(model.buffers())  # nothing that DDP would have to broadcast
    else:
        assert norms and all(isinstance(m, kind) for m in norms)


@pytest.mark.parametrize("depth", [8, 14, 20, 32])
def test_resnet_depth_counts_weighted_layers(depth: int) -> None:
    from torchrack_backbones.resnet import ResNet

    model = ResNet(depth=depth, norm="none")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) + 1 == depth  # 3x3 convolutions plus the (absent) final FC layer of the paper


def test_resnet_rejects_a_depth_that_is_not_6n_plus_2(registry: Registry) -> None:
    from torchrack_backbones.resnet import ResNet

    with pytest.raises(ValueError, match="6n \\+ 2"):
        ResNet(depth=10)
    comp = registry.resolve("backbone", f"{DIST}:resnet")
    assert validate_params(comp.params_schema, {"depth": 10})
    assert validate_params(comp.params_schema, {"nrom": "batch"})  # a typo is caught


def test_mlp_names_the_size_mismatch() -> None:
    from torchrack_backbones.mlp import MLPBackbone

    with pytest.raises(ValueError, match="expects 64 input features.*found 27"):
        MLPBackbone()(torch.randn(2, 3, 3, 3))


def test_small_cnn_pools_only_after_the_blocks_named_in_pool_after() -> None:
    cls = Registry.discover().get("backbone", f"{DIST}:small_cnn")
    heavy = cls(in_channels=3, widths=[64, 128, 128, 256, 256], pool_after=[1, 3], pool=False)
    assert sum(isinstance(m, nn.MaxPool2d) for m in heavy.modules()) == 2
    assert heavy(torch.zeros(1, 3, 32, 32)).shape == (1, 256, 8, 8)  # 32 -> 16 -> 8
    every = cls(in_channels=3, widths=[8, 8, 8], pool=False)
    assert every(torch.zeros(1, 3, 32, 32)).shape == (1, 8, 4, 4)  # None: after every block
    with pytest.raises(ValueError, match=r"pool_after \[5\] must be block indices 0..2"):
        cls(widths=[8, 8, 8], pool_after=[5])
