"""torchrack: a plugin-ecosystem core for PyTorch components.

Discover plugins through entry points, vet their compatibility from metadata and static manifests
before importing them, resolve components by name, and check tensor contracts before compute.
Importing this package imports neither torch nor any plugin.

The public API is what ``__all__`` lists, plus the subpackages :mod:`torchrack.contracts`,
:mod:`torchrack.plugins`, :mod:`torchrack.integrity`, :mod:`torchrack.authoring`,
:mod:`torchrack.testing`, :mod:`torchrack.hookspecs`, :mod:`torchrack.accelerator` and
:mod:`torchrack.cli`. Every error torchrack raises derives from :class:`TorchrackError` and is
importable from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torchrack._errors import TorchrackDeprecationWarning, TorchrackError, TorchrackWarning
from torchrack._version import API_VERSION, __version__

if TYPE_CHECKING:
    from torchrack._kinds import COMMANDS_GROUP, GROUPS, HOOKS_GROUP, KINDS
    from torchrack.accelerator import Accelerator, CPUAccelerator, SingleProcessAccelerator
    from torchrack.authoring import ProjectError, ScaffoldError
    from torchrack.contracts import (
        InvalidTensorSpecError,
        SignatureError,
        TensorSpec,
        UnknownSchemaError,
        load_schema,
        validate,
    )
    from torchrack.hookspecs import Run, hookimpl
    from torchrack.integrity import InvalidLockError, InvalidWheelError
    from torchrack.plugins import (
        AmbiguousComponentError,
        ComponentInfo,
        ComponentNotFoundError,
        ComponentRef,
        ComponentVersionError,
        EntryPointImportError,
        InvalidSettingsError,
        PluginImportError,
        PluginInfo,
        Registry,
        Settings,
        UntrustedImportError,
        canonical_dist,
        load_settings,
    )
    from torchrack.testing import ConformanceConfigError, ConformanceFailure

__all__ = [
    "API_VERSION",
    "COMMANDS_GROUP",
    "GROUPS",
    "HOOKS_GROUP",
    "KINDS",
    "Accelerator",
    "AmbiguousComponentError",
    "CPUAccelerator",
    "ComponentInfo",
    "ComponentNotFoundError",
    "ComponentRef",
    "ComponentVersionError",
    "ConformanceConfigError",
    "ConformanceFailure",
    "EntryPointImportError",
    "InvalidLockError",
    "InvalidSettingsError",
    "InvalidTensorSpecError",
    "InvalidWheelError",
    "PluginImportError",
    "PluginInfo",
    "ProjectError",
    "Registry",
    "Run",
    "ScaffoldError",
    "Settings",
    "SignatureError",
    "SingleProcessAccelerator",
    "TensorSpec",
    "TorchrackDeprecationWarning",
    "TorchrackError",
    "TorchrackWarning",
    "UnknownSchemaError",
    "UntrustedImportError",
    "__version__",
    "canonical_dist",
    "hookimpl",
    "load_schema",
    "load_settings",
    "validate",
]

# The rest of the public API is imported on first access (PEP 562), so that `import torchrack`
# and a warm `torchrack list` load only what they use: pluggy only for hooks, jsonschema only
# to validate, torch never.
_LAZY: dict[str, str] = {
    "COMMANDS_GROUP": "torchrack._kinds",
    "GROUPS": "torchrack._kinds",
    "HOOKS_GROUP": "torchrack._kinds",
    "KINDS": "torchrack._kinds",
    "Accelerator": "torchrack.accelerator",
    "CPUAccelerator": "torchrack.accelerator",
    "SingleProcessAccelerator": "torchrack.accelerator",
    "ProjectError": "torchrack.authoring",
    "ScaffoldError": "torchrack.authoring",
    "InvalidTensorSpecError": "torchrack.contracts",
    "SignatureError": "torchrack.contracts",
    "TensorSpec": "torchrack.contracts",
    "UnknownSchemaError": "torchrack.contracts",
    "load_schema": "torchrack.contracts",
    "validate": "torchrack.contracts",
    "Run": "torchrack.hookspecs",
    "hookimpl": "torchrack.hookspecs",
    "InvalidLockError": "torchrack.integrity",
    "InvalidWheelError": "torchrack.integrity",
    "AmbiguousComponentError": "torchrack.plugins",
    "ComponentInfo": "torchrack.plugins",
    "ComponentNotFoundError": "torchrack.plugins",
    "ComponentRef": "torchrack.plugins",
    "ComponentVersionError": "torchrack.plugins",
    "EntryPointImportError": "torchrack.plugins",
    "InvalidSettingsError": "torchrack.plugins",
    "PluginImportError": "torchrack.plugins",
    "PluginInfo": "torchrack.plugins",
    "Registry": "torchrack.plugins",
    "Settings": "torchrack.plugins",
    "UntrustedImportError": "torchrack.plugins",
    "canonical_dist": "torchrack.plugins",
    "load_settings": "torchrack.plugins",
    "ConformanceConfigError": "torchrack.testing",
    "ConformanceFailure": "torchrack.testing",
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
