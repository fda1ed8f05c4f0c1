"""``timm``: any model of the timm library as a backbone giving pooled features ``[N, F]``.

One entry point serves the whole family (timm's registry of model names, listed without building
any): ``model`` is validated against ``timm.list_models()`` with a did-you-mean. The model is built
with ``num_classes=0`` (no classifier: its output is the globally pooled features) and
``pretrained=False`` always: timm would download pretrained weights, which torchrack never does.
Weights come from a local file instead, ``pretrained_file``: a ``.safetensors`` file, or a torch
file read with ``weights_only=True`` (never unpickling objects); the classifier's keys, named by the
model's pretrained config, are dropped. F is ``num_features``; ``input_size`` (C, H, W) is the
pretrained config's. Built on the ``meta`` device (the dry run), nothing is read.

This module imports timm only when a backbone is built, so listing, vetting and ``validate
--static`` work where timm cannot be imported (a CPU torch build with torchvision's CUDA wheel).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchrack import TorchrackError


class TimmError(TorchrackError, ValueError):
    """A timm backbone that cannot be built: timm missing, an unknown model, a bad weights file."""


def import_timm() -> Any:
    """timm, or a :class:`TimmError` that says why it cannot be imported here."""
    try:
        import timm
    except Exception as exc:  # noqa: BLE001 - ImportError, or torchvision's OSError/RuntimeError
        raise TimmError(
            f"timm backbone: timm cannot be imported here ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else exc}); install timm and a torchvision "
            "built for this torch (the package index's torchvision wheel is linked against CUDA "
            "torch, so it fails with a CPU-only torch)"
        ) from None
    return timm


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise TimmError(f"timm backbone: pretrained_file {path} does not exist; give a local "
                        ".safetensors or torch weights file (nothing is downloaded)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling refused, a damaged file
        raise TimmError(f"timm backbone: {path} cannot be read as weights ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}); save it with "
                        "safetensors.torch.save_file or torch.save(model.state_dict(), path)") from None
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TimmError(f"timm backbone: {path} does not hold a state dict (names -> tensors)")
    return {str(k): v for k, v in state.items()}


class TimmBackbone(nn.Module):
    """A timm model without its classifier: images ``[N, C, H, W]`` -> features ``[N, F]``."""

    def __init__(self, model: str, pretrained_file: str | None = None, in_chans: int | None = None,
                 global_pool: str = "avg") -> None:
        super().__init__()
        timm = import_timm()
        if not timm.is_model(model):
            close = difflib.get_close_matches(model, timm.list_models(), n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise TimmError(f"timm backbone: unknown model {model!r} (timm {timm.__version__}){hint} "
                            "(timm.list_models() lists every name)")
        kwargs: dict[str, Any] = {"pretrained": False, "num_classes": 0, "global_pool": global_pool}
        if in_chans is not None:
            kwargs["in_chans"] = int(in_chans)
        self.net = timm.create_model(model, **kwargs)
        self.model_name = model
        self.out_features = int(self.net.num_features)
        cfg = dict(getattr(self.net, "pretrained_cfg", None) or {})
        size = cfg.get("input_size")
        self.input_size = tuple(int(d) for d in size) if size else None
        self.in_channels = int(in_chans) if in_chans is not None else (self.input_size or (3,))[0]
        meta = torch.empty(0).device.type == "meta"
        if pretrained_file is not None and not meta:
            self._load(Path(os.path.expanduser(pretrained_file)), cfg)

    def _load(self, path: Path, cfg: dict[str, Any]) -> None:
        state = _read_weights(path)
        heads = cfg.get("classifier") or ()
        heads = (heads,) if isinstance(heads, str) else tuple(heads)
        state = {k: v for k, v in state.items() if not any(k == h or k.startswith(h + ".") for h in heads)}
        result = self.net.load_state_dict(state, strict=False)
        missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
        if missing or unexpected:
            def show(keys: list[str]) -> str:
                return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")

            raise TimmError(
                f"timm backbone: {path} does not fit model {self.model_name!r}"
                + (f"; missing: {show(missing)}" if missing else "")
                + (f"; unexpected: {show(unexpected)}" if unexpected else "")
                + "; give the weights of this very model (the classifier's keys are ignored)"
            )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(inputs)
        return out.flatten(1)
