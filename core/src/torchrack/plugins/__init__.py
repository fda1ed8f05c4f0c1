"""Plugins: discovery -> vetting -> registry, each layer importing only the ones before it.

- discovery (:func:`scan`): every installed distribution's ``torchrack.*`` entry points, metadata
  and static manifest, read without importing it, cached on disk;
- trust (:func:`load_settings`): allow/deny lists, strict mode, no plugins, probe timeout;
- vetting (:func:`vet`): a verdict per distribution (ok, incompatible, broken, denied);
- the loader (:func:`load_entry_point`, :class:`TrustPolicy`): the one place that imports an
  entry point, after the trust checks; the import probe runs it in child processes;
- the registry (:class:`Registry`): components by kind, ``name`` / ``dist:name`` resolution,
  hooks and commands.
"""

from typing import TYPE_CHECKING, Any

from torchrack.plugins._discovery import (
    MANIFEST_NAME,
    DistFacts,
    EntryPointFact,
    ScanResult,
    cache_dir,
    cache_enabled,
    scan,
)
from torchrack.plugins._loader import (
    EntryPointImportError,
    TrustPolicy,
    UntrustedImportError,
    describe_exception,
    guard_imports,
    load_entry_point,
)
from torchrack.plugins._registry import (
    AmbiguousComponentError,
    ComponentNotFoundError,
    ComponentRef,
    ComponentVersionError,
    PluginImportError,
    Registry,
)
from torchrack.plugins._trust import InvalidSettingsError, Rule, Settings, canonical_dist, load_settings
from torchrack.plugins._vetting import (
    BROKEN,
    DENIED,
    INCOMPATIBLE,
    NOT_PLUGIN,
    OK,
    ComponentInfo,
    Environment,
    PluginInfo,
    compat,
    precompute,
    vet,
    vet_all,
)

if TYPE_CHECKING:
    from torchrack.plugins._probe import DEFAULT_TIMEOUT as DEFAULT_PROBE_TIMEOUT
    from torchrack.plugins._probe import probe_imports

__all__ = [
    "BROKEN",
    "DEFAULT_PROBE_TIMEOUT",
    "DENIED",
    "INCOMPATIBLE",
    "MANIFEST_NAME",
    "NOT_PLUGIN",
    "OK",
    "AmbiguousComponentError",
    "ComponentInfo",
    "ComponentNotFoundError",
    "ComponentRef",
    "ComponentVersionError",
    "DistFacts",
    "EntryPointFact",
    "EntryPointImportError",
    "Environment",
    "InvalidSettingsError",
    "PluginImportError",
    "PluginInfo",
    "Registry",
    "Rule",
    "ScanResult",
    "Settings",
    "TrustPolicy",
    "UntrustedImportError",
    "cache_dir",
    "cache_enabled",
    "canonical_dist",
    "compat",
    "describe_exception",
    "guard_imports",
    "load_entry_point",
    "load_settings",
    "precompute",
    "probe_imports",
    "scan",
    "vet",
    "vet_all",
]


def __getattr__(name: str) -> Any:
    # The probe (subprocess, threads, selectors) is imported only by `check` and `info`.
    if name in ("probe_imports", "DEFAULT_PROBE_TIMEOUT"):
        from torchrack.plugins import _probe

        return _probe.probe_imports if name == "probe_imports" else _probe.DEFAULT_TIMEOUT
    raise AttributeError(f"module 'torchrack.plugins' has no attribute {name!r}")
