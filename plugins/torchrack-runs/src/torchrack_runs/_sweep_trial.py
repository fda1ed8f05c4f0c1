"""One sweep trial: an ordinary run of the trial's config, tagged with its sweep and point.

:func:`run_trial` trains one trial in this process through a :class:`~torchrack_runs._runner.Runner`
(the same checks, trainer and store tracker as ``torchrack run``) with one more hooks plugin,
:class:`TrialHooks`, which

- at run start, writes the record's ``sweep`` field ``{"id", "trial", "point", "seed"}`` and
  points the sweep's trial row at the run (status running), so a sweep killed at any moment
  knows which run each trial is;
- at each epoch end, reports the objective (``report``), and for optuna asks whether to go on
  (``decide``): a pruned trial stops after that epoch (its record's ``stopped`` says why, by
  ``optuna``).

At the end it writes the trial's row (completed, pruned or failed, with the objective) when it
recorded into the sweep's store itself (the local executor). The local executor runs it in a
worker process (``python -m torchrack_runs._sweep_worker``); the Ray executor in a Ray task,
recording into a private store whose run the driver then imports (:mod:`torchrack_runs._sweep_ray`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchrack import TorchrackError
from torchrack.hookspecs import hookimpl
from torchrack.plugins import Registry, Settings

from torchrack_runs._runner import Runner

if TYPE_CHECKING:
    import pluggy

    from torchrack_runs._store import RunStore

__all__ = ["TrialHooks", "TrialRunner", "outcome_of", "run_trial"]

#: ``report(event)``: where a trial's progress goes (a worker's pipe, or nowhere).
Report = Callable[[dict[str, Any]], None]
#: ``decide(step, value) -> (prune, reason)``: optuna's answer after an epoch.
Decide = Callable[[int, float], tuple[bool, str]]


class TrialHooks:
    """The hooks a trial adds to its run (see the module docstring)."""

    def __init__(self, spec: dict[str, Any], report: Report | None = None,
                 decide: Decide | None = None) -> None:
        self.spec = spec
        self.report = report
        self.decide = decide
        self.store: RunStore | None = None
        self.run_id: str | None = None
        self.pruned: str | None = None

    @property
    def tag(self) -> dict[str, Any]:
        s = self.spec
        return {"id": str(s["sweep_id"]), "trial": int(s["trial"]), "point": dict(s["point"]),
                "seed": int(s["seed"])}

    # trylast: after the store tracker, which creates the run and sets run.id.
    @hookimpl(trylast=True)
    def torchrack_run_start(self, run: Any, config: dict[str, Any]) -> None:
        """Tag the record and point the trial's row at the run."""
        if self.store is None or run.id is None:
            return
        self.run_id = str(run.id)
        self.store.update_fields(run.id, {"sweep": self.tag})
        if self.spec.get("record_trial"):
            self.store.sweeps.update_trial(self.spec["sweep_id"], int(self.spec["trial"]),
                                           status="running", run_id=int(run.id),
                                           started_at=time.time(), error=None)
        if self.report is not None:
            self.report({"event": "started", "run_id": str(run.id)})

    @hookimpl
    def torchrack_epoch_end(self, run: Any, epoch: int, metrics: dict[str, float]) -> None:
        """Report the epoch's objective; with ``decide``, stop the run when optuna prunes it."""
        value = metrics.get(str(self.spec["objective"]))
        number = float(value) if isinstance(value, (int, float)) else math.nan
        epochs = int(self.spec.get("epochs", 1))
        ask = self.decide is not None and epoch + 1 < epochs and math.isfinite(number)
        if self.report is not None:
            self.report({"event": "epoch", "epoch": epoch + 1, "value": number if math.isfinite(number) else None})
        if ask:
            assert self.decide is not None
            step = int(self.spec.get("step_offset", 0)) + epoch
            prune, reason = self.decide(step, number)
            if prune:
                self.pruned = reason
                run.request_stop(reason, by="optuna")


class TrialRunner(Runner):
    """A :class:`Runner` whose runs also carry a trial's :class:`TrialHooks`."""

    def __init__(self, config: str | os.PathLike[str], hooks: TrialHooks, *,
                 store: str | os.PathLike[str] | None = None, settings: Settings | None = None,
                 registry: Registry | None = None, overrides: Sequence[str] = ()) -> None:
        super().__init__(config, overrides, store=store, settings=settings, registry=registry)
        self.trial_hooks = hooks

    def plugin_manager(self, store: RunStore | None, *, trackers: bool = True) -> pluggy.PluginManager:
        pm = super().plugin_manager(store, trackers=trackers)
        if store is not None:
            self.trial_hooks.store = store
            pm.register(self.trial_hooks, name="torchrack-sweep-trial")
        return pm


def outcome_of(record: dict[str, Any] | None, objective: str, error: str | None = None) -> dict[str, Any]:
    """A trial's outcome from its run's record: status (completed, pruned, failed), the
    objective (a finite float, else the trial failed), the run id and the error."""
    if record is None:
        return {"status": "failed", "run_id": None, "objective": None,
                "error": error or "the trial ended before its run was recorded"}
    status = str(record.get("status"))
    value = (record.get("final_metrics") or {}).get(objective)
    out: dict[str, Any] = {"run_id": str(record["run_id"]), "objective": None,
                           "error": record.get("error") or error}
    if status != "completed":
        out["status"] = "failed" if status == "failed" else "interrupted"
        out["error"] = out["error"] or f"the run ended {status}"
        return out
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        out["status"] = "failed"
        out["error"] = (f"the objective {objective!r} is not a finite number in the run's final "
                        f"metrics (found {value!r})")
        return out
    out["objective"] = float(value)
    stopped = record.get("stopped") or {}
    out["status"] = "pruned" if stopped.get("by") == "optuna" else "completed"
    if out["status"] == "pruned":
        out["error"] = None
    return out


def run_trial(spec: dict[str, Any], *, report: Report | None = None, decide: Decide | None = None,
              settings: Settings | None = None, registry: Registry | None = None) -> dict[str, Any]:
    """Train the trial ``spec`` describes, here; return its outcome (:func:`outcome_of`).

    ``spec``: ``sweep_id``, ``trial``, ``point``, ``seed``, ``config`` (the trial's config
    file), ``store`` (the store file), ``objective``, ``epochs``, and optionally ``resume`` (the
    run to continue), ``threads``, ``step_offset`` (optuna's step of this seed's first epoch)
    and ``record_trial`` (write the sweep's trial row too).
    """
    threads = spec.get("threads")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    hooks = TrialHooks(spec, report, decide)
    error: str | None = None
    run_id: str | None = None
    store_path = Path(spec["store"])
    try:
        runner = TrialRunner(spec["config"], hooks, store=store_path, settings=settings,
                             registry=registry)
        result, _ = runner.run(resume=spec.get("resume"), progress=False)
        run_id = result.id
    except TorchrackError as exc:
        error = str(exc)
    from torchrack_runs._store import RunStore

    with RunStore(store_path) as store:
        if run_id is None:  # failed: the run it recorded, if it got that far
            run_id = hooks.run_id
        record = store.get(run_id) if run_id is not None else None
        outcome = outcome_of(record, str(spec["objective"]), error)
        if hooks.pruned and outcome["status"] == "pruned":
            outcome["pruned"] = hooks.pruned
        if spec.get("record_trial"):
            store.sweeps.update_trial(
                spec["sweep_id"], int(spec["trial"]), status=outcome["status"],
                run_id=None if outcome["run_id"] is None else int(outcome["run_id"]),
                objective=outcome["objective"], error=outcome["error"], ended_at=time.time())
    return outcome

