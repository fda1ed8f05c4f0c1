"""hf_vision against tiny random-initialised transformers models saved with save_pretrained:
F from config.json, forward on cpu and meta against the declared specs, the hub cache and its
did-you-mean, offline loading, and the refusals (remote code, pickled weights, missing models)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torchrack import Registry
from torchrack.contract import check_tensors
from torchrack.contracts import params_with_defaults
from torchrack_hf import HFModelError, RemoteCodeError, cached_ids, describe

transformers = pytest.importorskip("transformers", reason="torchrack-hf needs transformers (its dependency)")


def resnet_config() -> Any:
    return transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1])


def vit_config() -> Any:
    return transformers.ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, image_size=16, patch_size=8)


def save(config: Any, folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {"resnet": save(resnet_config(), root / "resnet"), "vit": save(vit_config(), root / "vit")}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(use_cache=False)


def build(registry: Registry, **params: Any) -> tuple[Any, Any, dict[str, Any]]:
    comp = registry.resolve("backbone", "torchrack-hf:hf_vision")
    full = params_with_defaults(comp.params_schema, params)
    return registry.load(comp)(**full), comp, full


@pytest.mark.parametrize("kind,features,pooling", [("resnet", 16, "pooler"), ("vit", 16, "cls")])
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_pooled_features_follow_the_config(registry: Registry, models: dict[str, Path], kind: str,
                                           features: int, pooling: str, device: str) -> None:
    facts = describe(str(models[kind]))
    assert facts.features == features and facts.channels == 3
    with torch.device(device):
        module, comp, params = build(registry, model=str(models[kind]))
        x = torch.rand(2, 3, 16, 16)
    assert module.out_features == features and module.pooling == pooling
    out = module(x)
    assert out.shape == (2, features) and out.device.type == device
    bindings: dict[str, int] = {}
    assert not check_tensors(comp.inputs, [x], params=params, bindings=bindings, who="hf_vision")
    assert not check_tensors(comp.outputs, [out], params=params, bindings=bindings, who="hf_vision")
    if device == "cpu":  # a larger image: ViT interpolates its position embeddings
        assert module(torch.rand(1, 3, 32, 32)).shape == (1, features)


def test_weights_are_the_saved_ones_and_pooling_choices(registry: Registry, models: dict[str, Path]) -> None:
    reference = transformers.AutoModel.from_pretrained(models["resnet"]).eval()
    module = build(registry, model=str(models["resnet"]))[0].eval()
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(pixel_values=x).pooler_output.flatten(1)
        torch.testing.assert_close(module(x), expected)
        mean = build(registry, model=str(models["resnet"]), pooling="mean")[0].eval()
        torch.testing.assert_close(mean(x), reference(pixel_values=x).last_hidden_state.mean(dim=(2, 3)))
    random = build(registry, model=str(models["resnet"]), pretrained=False)[0]
    assert not torch.equal(next(random.parameters()), next(module.parameters()))
    vit = build(registry, model=str(models["vit"]))[0]
    assert not any("pooler" in name for name, _ in vit.named_parameters())  # no untrained pooler


def test_loads_offline_from_the_local_hub_cache(tmp_path: Path, models: dict[str, Path],
                                                monkeypatch: pytest.MonkeyPatch, registry: Registry) -> None:
    cache = tmp_path / "hub"
    snap = cache / "models--acme--tiny-resnet" / "snapshots" / "0123abcd"
    shutil.copytree(models["resnet"], snap)
    (cache / "models--acme--tiny-resnet" / "refs").mkdir()
    (cache / "models--acme--tiny-resnet" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert cached_ids() == ["acme/tiny-resnet"]
    assert describe("acme/tiny-resnet").path == snap
    assert build(registry, model="acme/tiny-resnet")[0].out_features == 16
    with pytest.raises(HFModelError, match=r"'acme/tiny-resnt' is neither a local folder nor in the local hub "
                                           r"cache .*did you mean 'acme/tiny-resnet'\? torchrack never downloads"):
        describe("acme/tiny-resnt")
    with pytest.raises(HFModelError, match="not at revision 'v2'"):
        describe("acme/tiny-resnet", revision="v2")


def test_a_hub_id_not_cached_never_reaches_the_network(tmp_path: Path, models: dict[str, Path]) -> None:
    # A fresh interpreter with no cache and no proxy: building must fail at once, offline.
    code = ("from torchrack import Registry\n"
            "cls = Registry.discover().get('backbone', 'hf_vision')\n"
            "try:\n    cls(model='google/vit-base-patch16-224')\n"
            "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
            "import os; print('offline', os.environ.get('HF_HUB_OFFLINE'))\n")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "empty"), "HTTPS_PROXY": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "TORCHRACK_CACHE_DIR": str(tmp_path / "tc")}
    env.pop("HF_HUB_OFFLINE", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "HFModelError" in proc.stdout and "the cache holds no models" in proc.stdout, proc.stdout + proc.stderr


def test_refusals_name_the_model(tmp_path: Path, models: dict[str, Path], registry: Registry) -> None:
    with pytest.raises(HFModelError, match=f"the local folder {tmp_path / 'nope'} does not exist"):
        describe(str(tmp_path / "nope"))
    remote = shutil.copytree(models["resnet"], tmp_path / "remote")
    config = json.loads((remote / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_acme.AcmeModel"}
    (remote / "config.json").write_text(json.dumps(config))
    with pytest.raises(RemoteCodeError, match=r"needs code from its own repository .*AutoModel = "
                                              r"modeling_acme.AcmeModel.*remote code is refused"):
        build(registry, model=str(remote))
    with pytest.raises(HFModelError, match="trust_remote_code is refused"):
        registry.get("backbone", "hf_vision")(model=str(models["resnet"]), trust_remote_code=True)
    pickled = shutil.copytree(models["resnet"], tmp_path / "pickled")
    (pickled / "model.safetensors").unlink()
    (pickled / "pytorch_model.bin").write_bytes(b"PK")
    with pytest.raises(HFModelError, match=r"has no model.safetensors \(pytorch_model.bin found: pickled "
                                           r"weights are refused.*safe_serialization=True"):
        build(registry, model=str(pickled))
    assert build(registry, model=str(pickled), pretrained=False)[0].out_features == 16
    unknown = shutil.copytree(models["resnet"], tmp_path / "unknown")
    config = json.loads((unknown / "config.json").read_text())
    config["model_type"] = "acme_vision"
    (unknown / "config.json").write_text(json.dumps(config))
    with pytest.raises(HFModelError, match=r"\(acme_vision\) cannot be built by transformers"):
        build(registry, model=str(unknown))


def test_the_manifest_refuses_trust_remote_code_statically(registry: Registry) -> None:
    from torchrack.contracts import validate_params

    comp = registry.resolve("backbone", "hf_vision")
    assert validate_params(comp.params_schema, {"model": "m", "trust_remote_code": True})
    assert not validate_params(comp.params_schema, {"model": "m"})
    assert comp.params_schema["properties"]["model"]["x-data"] == "folder"
