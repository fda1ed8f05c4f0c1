"""Where a Hugging Face model is and what its ``config.json`` says, read without transformers.

``model`` is a local folder (what ``save_pretrained`` writes) or a hub id (``org/name``) that is
already in the local hub cache; nothing here, or anywhere in torchrack-hf, downloads. The cache is
found as huggingface_hub finds it: ``HF_HUB_CACHE`` (or the older ``HUGGINGFACE_HUB_CACHE``), else
``HF_HOME/hub``, else ``XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``; a
cached model is ``models--<org>--<name>/snapshots/<commit>/``, the commit of a revision read from
``refs/<revision>``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchrack import TorchrackError

#: A hub id as the hub spells one: ``name`` or ``org/name``.
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")

#: Model types whose features are the class token of the last hidden state (their pooler, when
#: they have one, is a freshly initialised dense layer in a feature-extraction checkpoint).
CLS_TYPES = frozenset({"vit", "deit", "dinov2"})

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLED_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")


class HFModelError(TorchrackError, ValueError):
    """A model that torchrack-hf cannot use: missing, not cached, remote code, no safetensors.
    ``model`` is the ``model`` param as given."""

    def __init__(self, message: str, model: str) -> None:
        super().__init__(message)
        self.model = model


class RemoteCodeError(HFModelError):
    """A model whose config needs code from its repository (``auto_map``): refused."""


def hub_cache() -> Path:
    """The local hub cache folder (see the module docstring)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def cached_ids(cache: Path | None = None) -> list[str]:
    """The hub ids of the models in the local cache, sorted."""
    cache = hub_cache() if cache is None else cache
    try:
        names = [p.name for p in cache.iterdir() if p.is_dir() and p.name.startswith("models--")]
    except OSError:
        return []
    return sorted(n.removeprefix("models--").replace("--", "/") for n in names)


def _snapshot(model: str, revision: str, cache: Path) -> Path | None:
    repo = cache / ("models--" + model.replace("/", "--"))
    if not repo.is_dir():
        return None
    commit = revision
    ref = repo / "refs" / revision
    if ref.is_file():
        commit = ref.read_text(encoding="utf-8").strip()
    snap = repo / "snapshots" / commit
    return snap if snap.is_dir() else None


def locate(model: str, revision: str = "main") -> Path:
    """The folder holding ``model``'s ``config.json``: the local folder itself, or the cached
    snapshot of ``revision``. Raises :class:`HFModelError` saying what was looked for where, with
    a did-you-mean over the cached ids."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    looks_local = model.startswith((".", "/", "~")) or not HUB_ID.match(model)
    if looks_local or path.exists():
        what = "is not a folder" if path.exists() else "does not exist"
        raise HFModelError(
            f"hf_vision: model {model!r}: the local folder {path} {what}; give the folder that "
            "save_pretrained wrote (it holds config.json and model.safetensors), or a hub id "
            "already in the local cache",
            model,
        )
    cache = hub_cache()
    snap = _snapshot(model, revision, cache)
    if snap is not None:
        return snap
    known = cached_ids(cache)
    if model in known:
        raise HFModelError(
            f"hf_vision: model {model!r} is in the hub cache {cache} but not at revision "
            f"{revision!r} (no refs/{revision} and no snapshot of that name); set the 'revision' "
            "param to a cached one",
            model,
        )
    close = difflib.get_close_matches(model, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else (
        f" (the cache holds {len(known)} models)" if known else " (the cache holds no models)")
    raise HFModelError(
        f"hf_vision: model {model!r} is neither a local folder nor in the local hub cache {cache}"
        f"{hint} torchrack never downloads: fetch it once where a network is available "
        "(huggingface-cli download ...), or give the folder save_pretrained wrote",
        model,
    )


@dataclass(frozen=True)
class ModelFacts:
    """What a model's ``config.json`` says, without building the model."""

    path: Path
    model_type: str
    features: int
    channels: int
    image_size: int | None
    config: dict[str, Any]


def feature_size(config: dict[str, Any], pooling: str = "auto") -> int | None:
    """F, the size of the pooled features, from a config: the last of ``hidden_sizes`` (CNNs:
    ResNet, ConvNeXt, ...) or ``hidden_size`` (transformers: ViT, DeiT, DINOv2, Swin), and
    ``pooler_output_size`` when the pooler is asked for and the config has one."""
    if pooling == "pooler" and isinstance(config.get("pooler_output_size"), int):
        return int(config["pooler_output_size"])
    sizes = config.get("hidden_sizes")
    if isinstance(sizes, list) and sizes and isinstance(sizes[-1], int):
        return int(sizes[-1])
    size = config.get("hidden_size")
    return int(size) if isinstance(size, int) and not isinstance(size, bool) else None


def describe(model: str, revision: str = "main", pooling: str = "auto", *, weights: bool = True) -> ModelFacts:
    """Locate ``model`` and read its config: refuse remote code, require safetensors weights
    (when ``weights``), and give F, the input channels and the image size."""
    folder = locate(model, revision)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise HFModelError(f"hf_vision: model {model!r}: {cfg_path} does not exist; a model folder "
                           "holds the config.json that save_pretrained writes", model)
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HFModelError(f"hf_vision: model {model!r}: {cfg_path} is not readable JSON ({exc})", model) from None
    if not isinstance(config, dict):
        raise HFModelError(f"hf_vision: model {model!r}: {cfg_path} is not a JSON object", model)
    if config.get("auto_map"):
        entries = ", ".join(f"{k} = {v}" for k, v in dict(config["auto_map"]).items())
        raise RemoteCodeError(
            f"hf_vision: model {model!r} needs code from its own repository ({cfg_path}: auto_map "
            f"{entries}), and remote code is refused (trust_remote_code is never set); use a model "
            "whose architecture ships with transformers",
            model,
        )
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise HFModelError(f"hf_vision: model {model!r}: {cfg_path} has no model_type", model)
    features = feature_size(config, pooling)
    if features is None:
        raise HFModelError(
            f"hf_vision: model {model!r} ({model_type}): {cfg_path} gives neither hidden_sizes nor "
            "hidden_size, so the feature size is unknown; is it a vision backbone?",
            model,
        )
    if weights and not any((folder / name).is_file() for name in WEIGHT_FILES):
        pickled = [name for name in PICKLED_FILES if (folder / name).is_file()]
        why = (f" ({', '.join(pickled)} found: pickled weights are refused, as loading them can run "
               "code; convert with model.save_pretrained(folder, safe_serialization=True))" if pickled else "")
        raise HFModelError(
            f"hf_vision: model {model!r}: {folder} has no model.safetensors{why}; or set "
            "pretrained = false for randomly initialised weights",
            model,
        )
    channels = config.get("num_channels", 3)
    image_size = config.get("image_size")
    if isinstance(image_size, list):
        image_size = image_size[0] if image_size else None
    return ModelFacts(folder, model_type, features, int(channels) if isinstance(channels, int) else 3,
                      int(image_size) if isinstance(image_size, int) else None, config)
