"""``hf_vision``: a Hugging Face transformers vision model (ResNet, ConvNeXt, ViT, DeiT, DINOv2,
Swin, ...) as a backbone giving pooled features ``[N, F]``.

One entry point serves the whole family: the ``model`` param names a local folder (what
``save_pretrained`` writes) or a hub id already in the local hub cache. It is always offline:
``HF_HUB_OFFLINE`` is set (unless the environment already sets it) before transformers is
imported, every load passes ``local_files_only=True``, and a model that is not there is an error
(:mod:`torchrack_hf._hub`), so ``torchrack validate`` never reaches the network. Remote code is
refused (a config with ``auto_map``; ``trust_remote_code=False`` always) and weights are read from
safetensors files only (``use_safetensors=True``).

F is read from ``config.json`` before anything is built (:func:`torchrack_hf.describe`), and the
module's ``out_features`` is F. Built on the ``meta`` device (the dry run), the model is made from
its config alone: no weights are read. Pooling (``pooling`` "auto"): the class token of the last
hidden state for ViT-like models (``vit``, ``deit``, ``dinov2``: built without their pooler), else
the model's own pooler (global average pooling for ResNet, pooled and normalised for ConvNeXt),
else the mean over positions; "cls", "pooler" and "mean" choose one.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from torchrack_hf._hub import CLS_TYPES, HFModelError, describe

POOLINGS = ("auto", "cls", "pooler", "mean")


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No progress bars or load reports from transformers while a model loads (its settings
    restored afterwards): a run's output stays torchrack's."""
    from transformers.utils import logging

    enabled, level = logging.is_progress_bar_enabled(), logging.get_verbosity()
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if enabled:
            logging.enable_progress_bar()


class HFVision(nn.Module):
    """A transformers vision model mapping images ``[N, C, H, W]`` to features ``[N, F]``."""

    def __init__(
        self,
        model: str,
        revision: str = "main",
        pretrained: bool = True,
        pooling: str = "auto",
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__()
        if trust_remote_code:
            raise HFModelError(
                "hf_vision: trust_remote_code is refused: a model's own code would run with the "
                "run's permissions; use a model whose architecture ships with transformers",
                model,
            )
        if pooling not in POOLINGS:
            raise HFModelError(f"hf_vision: pooling must be one of {', '.join(POOLINGS)}, found {pooling!r}", model)
        facts = describe(model, revision, pooling, weights=pretrained)
        self.model_name, self.model_type = model, facts.model_type
        self.out_features = facts.features
        self.in_channels = facts.channels
        self.image_size = facts.image_size
        self.pooling = ("cls" if facts.model_type in CLS_TYPES else "pooler") if pooling == "auto" else pooling
        _offline()
        from transformers import AutoConfig, AutoModel

        extra: dict[str, Any] = {}
        if self.pooling != "pooler" and facts.model_type in CLS_TYPES:
            extra["add_pooling_layer"] = False  # an unused pooler would hold untrained weights
        common: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
        meta = torch.empty(0).device.type == "meta"  # built under `with torch.device("meta")`
        try:
            with _quiet():
                if meta or not pretrained:
                    config = AutoConfig.from_pretrained(str(facts.path), **common)
                    self.net = AutoModel.from_config(config, trust_remote_code=False, **extra)
                else:
                    self.net = AutoModel.from_pretrained(str(facts.path), use_safetensors=True, **common, **extra)
        except ValueError as exc:  # e.g. a model_type this transformers does not know
            raise HFModelError(
                f"hf_vision: model {model!r} ({facts.model_type}) cannot be built by transformers "
                f"{_version()}: {str(exc).splitlines()[0]}",
                model,
            ) from None
        params = inspect.signature(self.net.forward).parameters
        self._interpolate = "interpolate_pos_encoding" in params

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        kwargs = {"interpolate_pos_encoding": True} if self._interpolate else {}
        out = self.net(pixel_values=inputs, **kwargs)
        if self.pooling == "pooler":
            pooled = getattr(out, "pooler_output", None)
            if pooled is not None:
                return pooled.flatten(1)
        hidden = out.last_hidden_state
        if self.pooling == "cls" and hidden.dim() == 3:
            return hidden[:, 0]
        return hidden.mean(dim=(2, 3)) if hidden.dim() == 4 else hidden.mean(dim=1)

    def extra_repr(self) -> str:
        return f"model={self.model_name!r}, type={self.model_type}, out_features={self.out_features}"


def _version() -> str:
    from importlib.metadata import version

    return version("transformers")
