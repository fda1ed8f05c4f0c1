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

from typing import Any

import pluggy

PROJECT = "torchrack"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def torchrack_run_start(run: Any, config: dict[str, Any]) -> None:
    """A run begins: ``run`` is the live run object (id, name, store, resolved components)."""


@hookspec
def torchrack_run_end(run: Any, status: str, error: str | None) -> None:
    """A run ends with ``status`` in completed, failed, interrupted; ``error`` says why."""


@hookspec
def torchrack_epoch_start(run: Any, epoch: int) -> None:
    """An epoch of training begins (0-based)."""


@hookspec
def torchrack_epoch_end(run: Any, epoch: int, metrics: dict[str, float]) -> None:
    """An epoch ended; ``metrics`` holds its training (and, if run, evaluation) metrics."""


@hookspec
def torchrack_train_step_end(run: Any, epoch: int, step: int, loss: float) -> None:
    """One optimizer step ended. Called once per batch, never per sample."""


@hookspec
def torchrack_evaluation_end(run: Any, split: str, metrics: dict[str, Any]) -> None:
    """An evaluation on ``split`` ended with ``metrics``."""


@hookspec
def torchrack_checkpoint_saved(run: Any, path: str, epoch: int) -> None:
    """A checkpoint was written atomically to ``path`` after ``epoch``."""


@hookspec
def torchrack_run_record_finalized(run: Any, record: dict[str, Any]) -> None:
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
