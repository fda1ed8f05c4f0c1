"""The ``checkpoint`` backbone: weights round trip, freezing, refusal of non-weights files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torchrack import Registry, TorchrackError
from torchrack.contract import check_tensors
from torchrack.contracts import params_with_defaults
from torchrack_backbones.checkpoint import CheckpointBackbone, CheckpointError, load_weights
from torchrack_backbones.small_cnn import SmallCNN

WIDTHS = [8, 16]
INNER = {"backbone": "small_cnn", "backbone_params": {"widths": WIDTHS}}


class NotWeights:
    """A pickled object that a weights-only load must refuse."""

    def __init__(self) -> None:
        self.payload = [1, 2, 3]


def source_model() -> SmallCNN:
    torch.manual_seed(1)
    model = SmallCNN(widths=WIDTHS)
    with torch.no_grad():  # non-trivial batch-norm statistics, so that buffers are checked too
        model.train()
        model(torch.randn(16, 1, 8, 8) * 3 + 1)
    return model.eval()


def saved(tmp_path: Path, fmt: str) -> tuple[SmallCNN, Path]:
    model = source_model()
    if fmt == "safetensors":
        safetensors_torch = pytest.importorskip("safetensors.torch")
        path = tmp_path / "cnn.safetensors"
        safetensors_torch.save_file(model.state_dict(), str(path))
    else:
        path = tmp_path / "cnn.pt"
        torch.save(model.state_dict(), path)
    return model, path


@pytest.mark.parametrize("fmt", ["torch", "safetensors"])
@pytest.mark.parametrize("declared", ["auto", "explicit"])
def test_round_trip_gives_the_source_model(tmp_path: Path, fmt: str, declared: str) -> None:
    model, path = saved(tmp_path, fmt)
    wrapped = CheckpointBackbone(**INNER, path=str(path), format="auto" if declared == "auto" else fmt)
    wrapped.eval()
    x = torch.randn(5, 1, 8, 8)
    torch.testing.assert_close(wrapped(x), model(x))
    assert wrapped.out_features == WIDTHS[-1]
    for k, v in model.state_dict().items():
        assert torch.equal(wrapped.inner.state_dict()[k], v), k


def test_freeze_stops_gradients_and_keeps_statistics(tmp_path: Path) -> None:
    model, path = saved(tmp_path, "torch")
    wrapped = CheckpointBackbone(**INNER, path=str(path), freeze=True)
    assert all(not p.requires_grad for p in wrapped.parameters())
    wrapped.train()
    assert wrapped.training and not wrapped.inner.training  # batch norm stays in eval mode
    head = nn.Linear(wrapped.out_features, 3)
    x = torch.randn(4, 1, 8, 8)
    head(wrapped(x)).sum().backward()
    assert head.weight.grad is not None
    assert all(p.grad is None for p in wrapped.parameters())
    torch.testing.assert_close(
        wrapped.inner.state_dict()["layers.1.running_mean"], model.state_dict()["layers.1.running_mean"]
    )


def test_unfrozen_weights_train(tmp_path: Path) -> None:
    _, path = saved(tmp_path, "torch")
    wrapped = CheckpointBackbone(**INNER, path=str(path))
    wrapped(torch.randn(4, 1, 8, 8)).sum().backward()
    assert all(p.requires_grad and p.grad is not None for p in wrapped.parameters())


def test_a_pickled_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": NotWeights()}, path)
    with pytest.raises(CheckpointError, match="not a weights-only file") as info:
        CheckpointBackbone(**INNER, path=str(path))
    assert isinstance(info.value, TorchrackError)
    assert info.value.path == str(path)


def test_a_file_without_a_state_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        load_weights(str(path))


def test_missing_file_and_mismatched_weights(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        CheckpointBackbone(**INNER, path=str(tmp_path / "nope.pt"))
    with pytest.raises(CheckpointError, match="give 'path'.*or 'run'"):
        CheckpointBackbone(**INNER, path="")
    path = tmp_path / "other.pt"
    torch.save(SmallCNN(widths=[4, 4]).state_dict(), path)
    with pytest.raises(CheckpointError, match="do not fit backbone"):
        CheckpointBackbone(**INNER, path=str(path))


def test_trainer_checkpoint_with_prefix_and_non_strict(tmp_path: Path) -> None:
    model = source_model()
    head = nn.Linear(WIDTHS[-1], 3)
    state = {f"backbone.{k}": v for k, v in model.state_dict().items()}
    state.update({f"head.{k}": v for k, v in head.state_dict().items()})
    path = tmp_path / "run.pt"
    torch.save({"model": state, "step": 10, "config": {"lr": 0.1}}, path)
    wrapped = CheckpointBackbone(**INNER, path=str(path), prefix="backbone.").eval()
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(wrapped(x), model(x))
    partial = {k: v for k, v in model.state_dict().items() if not k.startswith("layers.4")}
    torch.save(partial, path)
    loose = CheckpointBackbone(**INNER, path=str(path), strict=False)
    assert loose.missing_keys and all(k.startswith("layers.4") for k in loose.missing_keys)


def test_inner_params_are_validated(tmp_path: Path) -> None:
    _, path = saved(tmp_path, "torch")
    with pytest.raises(CheckpointError, match="backbone_params .* are invalid"):
        CheckpointBackbone(backbone="small_cnn", backbone_params={"widht": 3}, path=str(path))
    with pytest.raises(LookupError, match="no backbone named"):
        CheckpointBackbone(backbone="no_such_net", path=str(path))


def test_safetensors_missing_gives_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(CheckpointError, match="pip install"):
        load_weights(str(path))


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_checkpoint_matches_its_spec_through_the_registry(tmp_path: Path, device: str) -> None:
    _, path = saved(tmp_path, "torch")
    reg = Registry.discover()
    comp = reg.resolve("backbone", "torchrack-backbones:checkpoint")
    params: dict[str, Any] = params_with_defaults(
        comp.params_schema, {**INNER, "path": str(path), "freeze": True}
    )
    with torch.device(device):
        model = reg.load(comp)(**params)
        x = torch.randn(2, 1, 8, 8)
    y = model(x)
    bindings: dict[str, int] = {}
    assert not check_tensors(comp.inputs, [x], params=params, bindings=bindings)
    assert not check_tensors(comp.outputs, [y], params=params, bindings=bindings)
    assert bindings["F"] == model.out_features == WIDTHS[-1]
    assert y.device.type == device
