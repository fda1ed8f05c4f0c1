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
from torchrack.plugins._probe import DEFAULT_TIMEOUT as DEFAULT_PROBE_TIMEOUT
from torchrack.plugins._probe import probe_imports
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
    OK,
    ComponentInfo,
    Environment,
    PluginInfo,
    compat,
    precompute,
    vet,
    vet_all,
)

__all__ = [
    "BROKEN",
    "DEFAULT_PROBE_TIMEOUT",
    "DENIED",
    "INCOMPATIBLE",
    "MANIFEST_NAME",
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
