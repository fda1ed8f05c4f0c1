"""torchrack-runs: the run machinery of torchrack, as a plugin distribution.

Experiment configs (:func:`load_and_resolve`), the pipeline and its meta-device dry run
(:func:`check_pipeline`), the trainer (:func:`fit`), the SQLite run store (:class:`RunStore`) with
its JSONL event logs, redaction, locks, the torchrun launcher, and one orchestrator that the
commands ``validate``, ``run``, ``eval``, ``runs`` and ``lock`` (``torchrack.commands`` entry
points) and the tests call: :class:`Runner`. Importing this package imports neither torch nor a
plugin; what needs torch imports it when it runs.

Every error is a :class:`torchrack.TorchrackError` and importable from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torchrack_runs._config import (
        ConfigError,
        ResolvedConfig,
        Slot,
        apply_overrides,
        load_and_resolve,
        read_config,
        resolve_config,
    )
    from torchrack_runs._events import EventLog
    from torchrack_runs._hooks import DistributedError, HookError
    from torchrack_runs._launch import LaunchOptions, WorkerFailedError
    from torchrack_runs._lock import LockMismatchError, compare_lock, make_lock, read_lock
    from torchrack_runs._pipeline import ComponentError, ContractError, check_pipeline
    from torchrack_runs._redact import REDACTED, redact
    from torchrack_runs._runner import Runner, evaluate_recorded
    from torchrack_runs._store import (
        InvalidRunRecordError,
        RunInUseError,
        RunNotFoundError,
        RunStore,
        StoreError,
        StoreNotFoundError,
    )
    from torchrack_runs._store_errors import StoreFullError, StoreLockedError, StoreReadOnlyError
    from torchrack_runs._tracker import StoreTracker
    from torchrack_runs._trainer import Run, fit
    from torchrack_runs.cli._runs import PlotUnavailableError, UnknownMetricError

__version__ = "0.1.0"

__all__ = [
    "REDACTED",
    "ComponentError",
    "ConfigError",
    "ContractError",
    "DistributedError",
    "EventLog",
    "HookError",
    "InvalidRunRecordError",
    "LaunchOptions",
    "LockMismatchError",
    "PlotUnavailableError",
    "ResolvedConfig",
    "Run",
    "RunInUseError",
    "RunNotFoundError",
    "RunStore",
    "Runner",
    "Slot",
    "StoreError",
    "StoreFullError",
    "StoreLockedError",
    "StoreNotFoundError",
    "StoreReadOnlyError",
    "StoreTracker",
    "UnknownMetricError",
    "WorkerFailedError",
    "__version__",
    "apply_overrides",
    "check_pipeline",
    "compare_lock",
    "evaluate_recorded",
    "fit",
    "load_and_resolve",
    "make_lock",
    "read_config",
    "read_lock",
    "redact",
    "resolve_config",
]

_LAZY: dict[str, str] = {
    "ConfigError": "torchrack_runs._config",
    "ResolvedConfig": "torchrack_runs._config",
    "Slot": "torchrack_runs._config",
    "apply_overrides": "torchrack_runs._config",
    "load_and_resolve": "torchrack_runs._config",
    "read_config": "torchrack_runs._config",
    "resolve_config": "torchrack_runs._config",
    "EventLog": "torchrack_runs._events",
    "LaunchOptions": "torchrack_runs._launch",
    "WorkerFailedError": "torchrack_runs._launch",
    "LockMismatchError": "torchrack_runs._lock",
    "compare_lock": "torchrack_runs._lock",
    "make_lock": "torchrack_runs._lock",
    "read_lock": "torchrack_runs._lock",
    "ComponentError": "torchrack_runs._pipeline",
    "ContractError": "torchrack_runs._pipeline",
    "check_pipeline": "torchrack_runs._pipeline",
    "REDACTED": "torchrack_runs._redact",
    "redact": "torchrack_runs._redact",
    "Runner": "torchrack_runs._runner",
    "evaluate_recorded": "torchrack_runs._runner",
    "InvalidRunRecordError": "torchrack_runs._store",
    "RunInUseError": "torchrack_runs._store",
    "RunNotFoundError": "torchrack_runs._store",
    "RunStore": "torchrack_runs._store",
    "StoreError": "torchrack_runs._store",
    "StoreNotFoundError": "torchrack_runs._store",
    "StoreFullError": "torchrack_runs._store_errors",
    "StoreLockedError": "torchrack_runs._store_errors",
    "StoreReadOnlyError": "torchrack_runs._store_errors",
    "StoreTracker": "torchrack_runs._tracker",
    "DistributedError": "torchrack_runs._hooks",
    "HookError": "torchrack_runs._hooks",
    "Run": "torchrack_runs._trainer",
    "fit": "torchrack_runs._trainer",
    "PlotUnavailableError": "torchrack_runs.cli._runs",
    "UnknownMetricError": "torchrack_runs.cli._runs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'torchrack_runs' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
