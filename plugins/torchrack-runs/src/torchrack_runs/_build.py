"""Building a config's components: the accelerator, the data, the model (backbone -> head), the
loss and the metrics; and, when a component fails inside the model, which one it was.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from torchrack import TorchrackError
from torchrack.accelerator import Accelerator
from torchrack.integrity import component_sha256
from torchrack.plugins import Registry

from torchrack_runs._config import ResolvedConfig, Slot
from torchrack_runs._pipeline import ComponentError, instantiate


def component_records(resolved: ResolvedConfig, registry: Registry) -> list[dict[str, Any]]:
    """The locked ``components`` entries of a resolved config (reads files, imports nothing):
    versions, file hashes, the versions of the libraries each distribution wraps (``wraps``)
    and, for components with data params, their content hashes (``data_sha256``; see
    :mod:`torchrack_runs._provenance`)."""
    from torchrack_runs._provenance import data_sha256, wrapped_versions

    out = []
    for slot in resolved.slots:
        info = slot.info
        assert info is not None
        plugin = registry.plugin(info.dist)
        entry: dict[str, Any] = {
            "role": slot.role,
            "kind": info.kind,
            "name": info.name,
            "version": info.version,
            "distribution": info.dist,
            "distribution_version": info.dist_version,
            "entry_point": info.entry_point,
            "files_sha256": component_sha256(info, plugin),
            "wraps": wrapped_versions(plugin),
        }
        data = data_sha256(info.params_schema, slot.params)
        if data:
            entry["data_sha256"] = data
        out.append(entry)
    return out


def record_components(resolved: ResolvedConfig, registry: Registry) -> list[dict[str, Any]]:
    """The run record's ``components``: :func:`component_records` with the fields that the
    installed run-record schema declares (an older core's schema may not declare ``wraps`` and
    ``data_sha256`` yet; its records then leave them out, and stay valid)."""
    from torchrack.contracts import load_schema

    items = load_schema("run-record")["properties"]["components"]["items"]
    declared = set(items.get("properties", {})) if items.get("additionalProperties") is False else None
    records = component_records(resolved, registry)
    if declared is None:
        return records
    return [{k: v for k, v in entry.items() if k in declared} for entry in records]



def _classifier(backbone: Any, head: Any, adapter: Any = None) -> Any:
    """backbone -> [adapter ->] head as one nn.Module, so an accelerator can wrap it (DDP,
    compile). Without an adapter its modules and state-dict keys are those of before adapters."""
    import torch

    class _Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = backbone
            self.head = head

        def forward(self, x: Any) -> Any:
            return self.head(self.backbone(x))

    class _Adapted(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = backbone
            self.adapter = adapter
            self.head = head

        def forward(self, x: Any) -> Any:
            return self.head(self.adapter(self.backbone(x)))

    return _Classifier() if adapter is None else _Adapted()


@dataclass
class Pipeline:
    """Built components of one config. ``model`` is backbone -> head; ``forward`` is what the
    accelerator made of it (the same module, or a DDP/compiled wrapper)."""

    dataset: Any
    augs: list[tuple[Slot, Any]]
    model: Any
    loss: Any
    metrics: list[tuple[Slot, Any]]
    accelerator: Any
    forward: Any = None


def build_accelerator(resolved: ResolvedConfig, registry: Registry) -> Accelerator:
    """The config's accelerator (checked to be available), or the built-in CPU one."""
    from torchrack.accelerator import CPUAccelerator

    slots = resolved.slots_of("accelerator")
    if not slots:
        return CPUAccelerator()
    slot = slots[0]
    acc: Accelerator = instantiate(slot, registry)
    try:
        available = bool(acc.is_available())
    except Exception as exc:  # noqa: BLE001 - the contract says it must not raise
        raise ComponentError(slot, "is_available()", exc) from exc
    if not available:
        why = getattr(acc, "unavailable_reason", None)
        raise TorchrackError(
            f"accelerator {slot.info.qualname if slot.info else slot.ref['name']} is not available "
            f"here{': ' + why if why else ''} (change /accelerator/name, e.g. to 'cpu')"
        )
    return acc


def build(resolved: ResolvedConfig, registry: Registry, seed: int, accelerator: Any = None) -> Pipeline:
    """Instantiate every component; model weights are initialised under ``seed``."""
    import torch

    from torchrack_runs._pipeline import bind_auto

    bind_auto(resolved, registry)  # "auto" params decide how components are built
    acc = accelerator if accelerator is not None else build_accelerator(resolved, registry)
    dataset = instantiate(resolved.slot("data.dataset"), registry)
    augs = [(s, instantiate(s, registry)) for s in resolved.slots_of("augmentation")]
    torch.manual_seed(seed)
    backbone = instantiate(resolved.slot("model.backbone"), registry)
    adapter = (instantiate(resolved.slot("model.adapter"), registry)
               if resolved.slots_of("adapter") else None)
    head = instantiate(resolved.slot("model.head"), registry)
    loss = instantiate(resolved.slot("loss"), registry)
    metrics = [(s, instantiate(s, registry)) for s in resolved.slots_of("metric")]
    model = _classifier(backbone, head, adapter).to(acc.device)
    if isinstance(loss, torch.nn.Module):
        loss = loss.to(acc.device)
    return Pipeline(dataset, augs, model, loss, metrics, acc)


def blame(exc: BaseException, resolved: ResolvedConfig, registry: Registry, default: str) -> Slot:
    """The config slot whose plugin code raised ``exc`` (from its traceback), else ``default``.

    The model runs as one module (so that DDP and torch.compile can wrap it); when it raises, the
    innermost traceback frame inside a plugin's package names the component at fault.
    """
    roots: list[tuple[str, Slot]] = []
    for slot in resolved.slots:
        plugin = registry.plugin(slot.info.dist) if slot.info else None
        if plugin is not None and plugin.manifest_path:
            roots.append((os.path.dirname(plugin.manifest_path) + os.sep, slot))
    found = resolved.slot(default)
    tb = exc.__traceback__
    while tb is not None:
        filename = os.path.abspath(tb.tb_frame.f_code.co_filename)
        for root, slot in roots:
            if filename.startswith(root) and slot.kind in ("backbone", "head", "loss"):
                found = slot
        tb = tb.tb_next
    return found


def guard(resolved: ResolvedConfig, registry: Registry, default: str, stage: str) -> Any:
    """Context manager: re-raise a plugin failure as a ComponentError naming the component."""

    @contextlib.contextmanager
    def cm() -> Iterator[None]:
        try:
            yield
        except TorchrackError:
            raise
        except Exception as exc:  # noqa: BLE001 - name the component that failed
            raise ComponentError(blame(exc, resolved, registry, default), stage, exc) from exc

    return cm()


def sensitive_paths(resolved: ResolvedConfig) -> list[str]:
    """Dotted config paths of params whose schema marks them ``"x-sensitive": true``."""
    out = []
    for slot in resolved.slots:
        for name, prop in (slot.info.params_schema.get("properties", {}) if slot.info else {}).items():
            if isinstance(prop, dict) and prop.get("x-sensitive"):
                out.append(f"{slot.key}.params.{name}")
    return out
