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

if TYPE_CHECKING:
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


#: Where each public name lives. Nothing is imported with the package: a warm `torchrack list`
#: reads its cache with ``_cache`` and ``_trust`` alone, and the registry, vetting and loader
#: modules (about 20 ms of imports) come in on first use of a name that needs them.
_LAZY: dict[str, str] = {
    **dict.fromkeys((
        "DistFacts", "EntryPointFact", "MANIFEST_NAME", "ScanResult", "cache_dir", "cache_enabled",
        "scan"
    ), "_discovery"),
    **dict.fromkeys((
        "EntryPointImportError", "TrustPolicy", "UntrustedImportError", "describe_exception",
        "guard_imports", "load_entry_point"
    ), "_loader"),
    **dict.fromkeys((
        "AmbiguousComponentError", "ComponentNotFoundError", "ComponentRef", "ComponentVersionError",
        "PluginImportError", "Registry"
    ), "_registry"),
    **dict.fromkeys((
        "InvalidSettingsError", "Rule", "Settings", "canonical_dist", "load_settings"
    ), "_trust"),
    **dict.fromkeys((
        "BROKEN", "ComponentInfo", "DENIED", "Environment", "INCOMPATIBLE", "NOT_PLUGIN", "OK",
        "PluginInfo", "compat", "precompute", "vet", "vet_all"
    ), "_vetting"),
    **dict.fromkeys((
        "DEFAULT_PROBE_TIMEOUT", "probe_imports"
    ), "_probe"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'torchrack.plugins' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"torchrack.plugins.{module}"),
                    "DEFAULT_TIMEOUT" if name == "DEFAULT_PROBE_TIMEOUT" else name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
