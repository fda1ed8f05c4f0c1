"""The timm backbone: its manifest and static checks everywhere; built models (specs on cpu, meta
and cuda, did-you-mean, local weights) where timm can be imported."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torchrack import Registry
from torchrack.contract import check_tensors
from torchrack.contracts import params_with_defaults, validate_params


def _timm() -> tuple[Any, str]:
    try:
        return importlib.import_module("timm"), ""
    except Exception as exc:  # noqa: BLE001 - ImportError, or torchvision's CUDA-linked wheel failing
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


TIMM, WHY = _timm()
needs_timm = pytest.mark.skipif(
    TIMM is None,
    reason=f"timm cannot be imported here ({WHY}): timm imports torchvision, whose wheel on the "
    "package index is linked against CUDA torch, so it does not import with this CPU torch build; "
    "these tests run on a CUDA machine with timm and torchvision installed",
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(use_cache=False)


def build(registry: Registry, **params: Any) -> tuple[Any, Any, dict[str, Any]]:
    comp = registry.resolve("backbone", "torchrack-timm:timm")
    full = params_with_defaults(comp.params_schema, params)
    return registry.load(comp)(**full), comp, full


# -- everywhere: no timm needed ----------------------------------------------------------------------


def test_manifest_declares_a_family_with_a_free_feature_size(registry: Registry) -> None:
    comp = registry.resolve("backbone", "timm")
    assert comp.dist == "torchrack-timm" and comp.kind == "backbone"
    assert comp.outputs["features"]["shape"] == ["N", "F"]
    assert comp.params_schema["required"] == ["model"]
    assert comp.params_schema["properties"]["pretrained_file"]["x-data"] == "file"
    assert not validate_params(comp.params_schema, {"model": "resnet18"})
    assert validate_params(comp.params_schema, {"model": "resnet18", "pretrained": True})  # no such param
    assert validate_params(comp.params_schema, {})


def test_the_module_imports_without_timm() -> None:
    # The entry point's module is imported by vetting probes and the registry: it must not need timm.
    code = ("import sys; sys.modules['timm'] = None\n"
            "import torchrack_timm.backbone as b\n"
            "try:\n    b.TimmBackbone(model='resnet18')\n"
            "except b.TimmError as exc:\n    print('refused:', exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "refused: timm backbone: timm cannot be imported here" in proc.stdout
    assert "linked against CUDA torch" in proc.stdout


# -- where timm imports ------------------------------------------------------------------------------


@needs_timm
@pytest.mark.parametrize("device", ["cpu", "meta"] + (["cuda"] if torch.cuda.is_available() else []))
def test_resnet18_features_match_num_features(registry: Registry, device: str) -> None:
    with torch.device(device):
        module, comp, params = build(registry, model="resnet18")
        x = torch.rand(2, 3, 64, 64)
    assert module.out_features == 512 and module.input_size == (3, 224, 224)
    out = module(x)
    assert out.shape == (2, 512) and out.device.type == device
    bindings: dict[str, int] = {}
    assert not check_tensors(comp.inputs, [x], params=params, bindings=bindings, who="timm")
    assert not check_tensors(comp.outputs, [out], params=params, bindings=bindings, who="timm")


@needs_timm
def test_an_unknown_model_gets_did_you_mean(registry: Registry) -> None:
    from torchrack_timm import TimmError

    with pytest.raises(TimmError, match=r"unknown model 'resnet1[^']*'.*did you mean .*'resnet18'"):
        build(registry, model="resnet1")


@needs_timm
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_local_weights_load_and_the_classifier_is_ignored(registry: Registry, tmp_path: Path, suffix: str) -> None:
    from torchrack_timm import TimmError

    torch.manual_seed(0)
    source = TIMM.create_model("resnet18", pretrained=False)  # with its classifier (fc)
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    else:
        torch.save(source.state_dict(), path)
    module = build(registry, model="resnet18", pretrained_file=str(path))[0].eval()
    source.reset_classifier(0)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(module(x), source.eval()(x))
    with pytest.raises(TimmError, match="does not fit model 'resnet34'.*missing"):
        build(registry, model="resnet34", pretrained_file=str(path))
    with pytest.raises(TimmError, match="does not exist"):
        build(registry, model="resnet18", pretrained_file=str(tmp_path / "nope.safetensors"))
