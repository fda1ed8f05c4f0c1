"""``checkpoint`` backbone: any registered backbone with weights from a local file, optionally frozen.

The transfer-learning path. The inner backbone is named like any other component (``name`` or
``dist:name``) and resolved through :meth:`torchrack.Registry.discover` (torchrack vets, resolves,
then imports), so a config still names registered components only. Its ``backbone_params`` are
validated against the inner manifest's params schema and completed with its defaults.

Weights are read without unpickling arbitrary objects: a ``.safetensors`` file (needs the
``safetensors`` extra) or a file written by ``torch.save`` holding a state dict, read with
``torch.load(..., weights_only=True)``. A torch file may also hold ``{"state_dict": {...}}`` or
``{"model": {...}}`` (a trainer checkpoint); ``prefix`` then selects and strips the keys of the
backbone's sub-module (e.g. ``"backbone."``).

Tensor spec: the output is declared ``features ["N", "F"]`` with ``F`` a *symbol*, since its size
is the inner backbone's ``out_features`` (known only after resolving it); the pipeline check
unifies ``F`` with the head's ``$in_features``. ``out_features`` is the inner's.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torchrack import TorchrackError

FORMATS = ("auto", "safetensors", "torch")


class CheckpointError(TorchrackError, ValueError):
    """A weights file that cannot be used: missing, not weights-only, or not matching the backbone."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


def _sniff_format(path: str) -> str:
    """``"safetensors"`` for a ``.safetensors`` name or a safetensors header, else ``"torch"``.

    A safetensors file starts with an 8-byte little-endian header length then a JSON ``{``; a
    ``torch.save`` file is a zip archive (``PK``) or a legacy pickle.
    """
    if path.endswith(".safetensors"):
        return "safetensors"
    with open(path, "rb") as fh:
        head = fh.read(9)
    if len(head) == 9 and head[8:9] == b"{" and not head.startswith(b"PK"):
        return "safetensors"
    return "torch"


def _state_dict_from(obj: Any, path: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise CheckpointError(
            f"checkpoint backbone: {path} does not hold a state dict (a mapping of names to "
            f"tensors) but a {type(obj).__name__}; save it with torch.save(model.state_dict(), path)",
            path,
        )
    return dict(obj)


def load_weights(path: str, format: str = "auto") -> dict[str, torch.Tensor]:
    """Read a state dict from ``path`` on the CPU, never unpickling arbitrary objects.

    ``format`` is ``"auto"`` (by name and header), ``"safetensors"`` or ``"torch"``
    (``torch.load(path, map_location="cpu", weights_only=True)``).
    """
    if format not in FORMATS:
        raise CheckpointError(f"checkpoint backbone: format must be one of {FORMATS}, found {format!r}")
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint backbone: weights file {path} does not exist", path)
    fmt = _sniff_format(path) if format == "auto" else format
    if fmt == "safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise CheckpointError(
                f"checkpoint backbone: {path} is a safetensors file but safetensors is not "
                "installed; pip install 'torchrack-backbones[safetensors]'",
                path,
            ) from None
        try:
            return dict(load_file(path, device="cpu"))
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
            raise CheckpointError(
                f"checkpoint backbone: {path} is not a valid safetensors file: {exc}", path
            ) from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"checkpoint backbone: {path} is not a weights-only file: it holds pickled Python "
            "objects, which torchrack refuses to unpickle (they could run code). Save only the "
            "weights: torch.save(model.state_dict(), path), or use safetensors",
            path,
        ) from exc
    except Exception as exc:  # noqa: BLE001 - corrupt archives raise RuntimeError and others
        raise CheckpointError(
            f"checkpoint backbone: cannot read {path} as a torch weights file: {exc}", path
        ) from exc
    return _state_dict_from(obj, path)


def build_backbone(name: str, params: Mapping[str, Any]) -> nn.Module:
    """Resolve backbone ``name`` through the torchrack registry and build it with ``params``.

    ``params`` are validated against the component's params schema, then its defaults are filled.
    """
    from torchrack import Registry
    from torchrack.contracts import params_with_defaults, validate_params

    reg = Registry.discover()
    comp = reg.resolve("backbone", name)
    problems = validate_params(comp.params_schema, dict(params))
    if problems:
        raise CheckpointError(
            f"checkpoint backbone: backbone_params for {comp.qualname} are invalid: "
            + "; ".join(str(p) for p in problems)
        )
    factory = reg.load(comp)
    module = factory(**params_with_defaults(comp.params_schema, dict(params)))
    if not isinstance(module, nn.Module):
        raise CheckpointError(f"checkpoint backbone: {comp.qualname} did not build an nn.Module")
    return module


class CheckpointBackbone(nn.Module):
    """``features = inner(inputs)``, with ``inner``'s weights loaded from ``path``.

    ``freeze=True`` sets ``requires_grad=False`` on every inner parameter and keeps the inner
    module in eval mode (batch-norm statistics stay those of the checkpoint). ``strict`` is passed
    to ``load_state_dict``; a mismatch is reported with the missing and unexpected keys.
    """

    def __init__(
        self,
        *,
        path: str | None = None,
        run: str | None = None,
        run_checkpoint: str = "last",
        backbone: str = "small_cnn",
        backbone_params: Mapping[str, Any] | None = None,
        format: str = "auto",
        prefix: str = "",
        freeze: bool = False,
        strict: bool = True,
    ) -> None:
        super().__init__()
        if not path:
            if run:
                raise CheckpointError(
                    f"checkpoint backbone: run = {run!r} names a recorded run, which `torchrack run` "
                    "and `torchrack validate` resolve from the run store into path; built outside "
                    "them, give path (the run's checkpoint file, `torchrack runs show RUN`)"
                )
            raise CheckpointError(
                "checkpoint backbone: give 'path', the local weights file to load (.safetensors "
                "or a torch.save'd state dict), or 'run', a recorded run to take the weights from"
            )
        self.run = run
        self.inner = build_backbone(backbone, backbone_params or {})
        self.path = str(path)
        self.frozen = bool(freeze)
        out_features = getattr(self.inner, "out_features", None)
        if not isinstance(out_features, int):
            raise CheckpointError(
                f"checkpoint backbone: backbone {backbone!r} has no integer 'out_features' "
                "attribute, which the backbone contract requires"
            )
        self.out_features = out_features
        state = load_weights(self.path, format)
        if prefix:
            state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if any(t.is_meta for t in self.inner.state_dict().values()):
            # A meta-device dry run: the file is read and its keys and shapes are checked, but
            # there are no values to copy into.
            state = {k: v.to("meta") for k, v in state.items()}
        try:
            result = self.inner.load_state_dict(state, strict=strict)
        except RuntimeError as exc:
            raise CheckpointError(
                f"checkpoint backbone: the weights in {self.path} do not fit backbone {backbone!r}: {exc}",
                self.path,
            ) from exc
        self.missing_keys = list(result.missing_keys)
        self.unexpected_keys = list(result.unexpected_keys)
        if self.frozen:
            for p in self.inner.parameters():
                p.requires_grad_(False)
            self.inner.eval()

    def train(self, mode: bool = True) -> CheckpointBackbone:
        super().train(mode)
        if self.frozen:
            self.inner.eval()
        return self

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.inner(inputs)
        return out
