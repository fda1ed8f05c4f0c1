"""torchrack: a plugin-ecosystem core for PyTorch components.

Discover plugins through entry points, vet their compatibility from metadata and static manifests
before importing them, resolve components by name, and check tensor contracts before compute.
Importing this package imports neither torch nor any plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torchrack._errors import TorchrackDeprecationWarning, TorchrackError, TorchrackWarning
from torchrack._version import API_VERSION, __version__

if TYPE_CHECKING:
    from torchrack._kinds import GROUPS, HOOKS_GROUP, KINDS
    from torchrack._registry import (
        AmbiguousComponentError,
        ComponentNotFoundError,
        ComponentRef,
        ComponentVersionError,
        PluginImportError,
        Registry,
    )
    from torchrack._schemas import load_schema, validate
    from torchrack._settings import Settings, load_settings
    from torchrack._tensorspec import InvalidTensorSpecError, TensorSpec
    from torchrack._vetting import ComponentInfo, PluginInfo
    from torchrack.hookspecs import hookimpl

__all__ = [
    "API_VERSION",
    "GROUPS",
    "HOOKS_GROUP",
    "KINDS",
    "AmbiguousComponentError",
    "ComponentInfo",
    "ComponentNotFoundError",
    "ComponentRef",
    "ComponentVersionError",
    "InvalidTensorSpecError",
    "PluginImportError",
    "PluginInfo",
    "Registry",
    "Settings",
    "TensorSpec",
    "TorchrackDeprecationWarning",
    "TorchrackError",
    "TorchrackWarning",
    "__version__",
    "hookimpl",
    "load_schema",
    "load_settings",
    "validate",
]

# The rest of the public API is imported on first access (PEP 562), so that `import torchrack`
# and a warm `torchrack list` load only what they use: pluggy only for hooks, jsonschema only
# to validate.
_LAZY: dict[str, str] = {
    "GROUPS": "torchrack._kinds",
    "HOOKS_GROUP": "torchrack._kinds",
    "KINDS": "torchrack._kinds",
    "AmbiguousComponentError": "torchrack._registry",
    "ComponentNotFoundError": "torchrack._registry",
    "ComponentRef": "torchrack._registry",
    "ComponentVersionError": "torchrack._registry",
    "PluginImportError": "torchrack._registry",
    "Registry": "torchrack._registry",
    "load_schema": "torchrack._schemas",
    "validate": "torchrack._schemas",
    "Settings": "torchrack._settings",
    "load_settings": "torchrack._settings",
    "InvalidTensorSpecError": "torchrack._tensorspec",
    "TensorSpec": "torchrack._tensorspec",
    "ComponentInfo": "torchrack._vetting",
    "PluginInfo": "torchrack._vetting",
    "hookimpl": "torchrack.hookspecs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'torchrack' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
