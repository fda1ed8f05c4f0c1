"""The published pluggy hook specifications of torchrack (hook API ``torchrack.API_VERSION``).

Plugins implement them in a module registered under the ``torchrack.hooks`` entry-point group and
described under ``hooks`` in their manifest::

    from torchrack import hookimpl

    @hookimpl
    def torchrack_epoch_end(run, epoch, metrics):
        print(epoch, metrics)

Hooks sit at run, epoch and step boundaries, never per sample. Within an API major version,
arguments are only ever added (pluggy lets an implementation accept any subset of them), and a
deprecated hook keeps working and warns through ``warn_on_impl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pluggy

PROJECT = "torchrack"


@runtime_checkable
class Run(Protocol):
    """The live run every hook receives (torchrack-runs' ``Run`` dataclass is one).

    ``id`` is set by the run store's tracker at run start (None before, and without a store);
    ``config`` is the resolved experiment config; ``components`` the run record's component
    entries (role, kind, name, version, distribution, file hashes); ``final_metrics`` is filled
    after the final evaluation. Hook implementations read these and must not change them.
    """

    id: str | None
    name: str
    config: dict[str, Any]
    config_sha256: str
    components: list[dict[str, Any]]
    environment: dict[str, Any]
    seed: int
    resume_of: str | None
    final_metrics: dict[str, Any]
    timings: dict[str, Any]
    checkpoint: str | None
    run_dir: Path | None
    sensitive_paths: list[str]

    def request_stop(self, reason: str, by: str = "hook") -> None:
        """Ask the trainer to end the run after the current epoch (call it from
        ``torchrack_epoch_end``): the run completes, its record's ``stopped`` says ``reason``
        and ``by`` (name your plugin). This is how a published training strategy (a custom
        early stopping, a time budget) ends a run; see docs/plugin-authors.md."""


hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def torchrack_run_start(run: Run, config: dict[str, Any]) -> None:
    """A run begins: ``run`` is the live :class:`Run` (id, name, config, resolved components)."""


@hookspec
def torchrack_run_end(run: Run, status: str, error: str | None) -> None:
    """A run ends with ``status`` in completed, failed, interrupted; ``error`` says why."""


@hookspec
def torchrack_epoch_start(run: Run, epoch: int) -> None:
    """An epoch of training begins. ``epoch`` is 0-based in every hook; users see and the run
    record stores ``epoch + 1`` (epochs 1..N)."""


@hookspec
def torchrack_epoch_end(run: Run, epoch: int, metrics: dict[str, float]) -> None:
    """An epoch ended; ``metrics`` holds its training (and, if run, evaluation) metrics."""


@hookspec
def torchrack_train_step_end(run: Run, epoch: int, step: int, loss: float) -> None:
    """One optimizer step ended. Called once per batch, never per sample."""


@hookspec
def torchrack_evaluation_end(run: Run, split: str, metrics: dict[str, Any]) -> None:
    """An evaluation on ``split`` ended with ``metrics``."""


@hookspec
def torchrack_checkpoint_saved(run: Run, path: str, epoch: int) -> None:
    """A checkpoint was written atomically to ``path`` after ``epoch``."""


@hookspec
def torchrack_alert(run: Run, alert: dict[str, Any]) -> None:
    """An ``[alerts]`` condition fired and the run is about to end failed: notify someone.

    ``alert`` holds ``kind`` (``non_finite`` or ``metric``), ``epoch`` and ``step`` (1-based;
    ``step`` None for a metric), ``metric``, ``value``, ``threshold`` (``{"below": x}`` or
    ``{"above": x}``) and ``message`` (the run's error). Called on the main process only, once.
    """


@hookspec
def torchrack_run_record_finalized(run: Run, record: dict[str, Any]) -> None:
    """The run record is complete (it conforms to the run-record schema)."""


@hookspec
def torchrack_validate_pipeline(config: dict[str, Any], components: dict[str, Any]) -> list[str]:
    """Add checks of a composed pipeline before any compute.

    ``components`` maps config roles (``model.backbone``...) to resolved component infos. Return a
    list of problems (each a full sentence naming the component and the config key to change);
    an empty list means no objection. Every implementation's problems are reported together.
    """
    return []


def plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with torchrack's hook specs added and nothing registered."""
    import sys

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(sys.modules[__name__])
    return pm
