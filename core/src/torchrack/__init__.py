"""torchrack: a plugin-ecosystem core for PyTorch components.

Discover plugins through entry points, vet their compatibility from metadata and static manifests
before importing them, resolve components by name, and check tensor contracts before compute.
Importing this package imports neither torch nor any plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torchrack._errors import TorchrackDeprecationWarning
from torchrack._errors import TorchrackError
from torchrack._errors import TorchrackWarning
from torchrack._kinds import GROUPS
from torchrack._kinds import HOOKS_GROUP
from torchrack._kinds import KINDS
from torchrack._registry import AmbiguousComponentError
from torchrack._registry import ComponentNotFoundError
from torchrack._registry import ComponentRef
from torchrack._registry import ComponentVersionError
from torchrack._registry import PluginImportError
from torchrack._registry import Registry
from torchrack._schemas import load_schema
from torchrack._schemas import validate
from torchrack._settings import Settings
from torchrack._settings import load_settings
from torchrack._tensorspec import InvalidTensorSpecError
from torchrack._tensorspec import TensorSpec
from torchrack._version import API_VERSION
from torchrack._version import __version__
from torchrack._vetting import ComponentInfo
from torchrack._vetting import PluginInfo

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    # pluggy is imported only by code that implements or calls hooks, not by `torchrack list`.
    if name == "hookimpl":
        from torchrack.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module 'torchrack' has no attribute {name!r}")
