"""``method = "optuna"``: points chosen by optuna's TPE sampler, trials pruned on epoch metrics.

The study lives in memory in the sweep process; the store is the record. Each optuna trial is
one point of the sweep (point index = optuna's trial number), run once per seed, one seed after
another, as ordinary sweep trials on local workers (``--jobs`` points at a time). After each
epoch (but a run's last) the worker reports the objective; the sweep tells the study
(``report(value, step)``, step = seed index x epochs + epoch index) and answers the
worker with ``should_prune()`` of a median pruner (``[sweep.pruning]``: ``startup_trials``
finished points before any is pruned, ``warmup_epochs`` never pruned). A pruned run stops after
that epoch: its record's ``stopped`` is ``{"by": "optuna", ...}`` and its trial is ``pruned``;
the point's later seeds are recorded ``pruned`` without a run. The study is told the mean
objective of a point's seeds, or that it was pruned or failed.

A list in the space is a categorical choice (by index, so whole component tables work); a
range is a float or (integer ``low``, ``high`` and ``step``) int distribution, ``log`` as given.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from torchrack import TorchrackError

from torchrack_runs._sweep_config import Dimension, SweepSpec

if TYPE_CHECKING:
    from torchrack_runs._store import RunStore
    from torchrack_runs._sweep_run import Log, SweepOptions

__all__ = ["require_optuna", "run_optuna"]


def require_optuna(options: SweepOptions, resume: str | None) -> None:
    """Refuse what an optuna sweep cannot do, before anything is written."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise TorchrackError('method = "optuna" needs optuna: pip install optuna') from None
    if options.executor != "local":
        raise TorchrackError('method = "optuna" runs on the local executor (its pruner answers each '
                             "epoch); use method = \"random\" or \"grid\" with --executor ray")
    if resume is not None:
        raise TorchrackError(f"--resume {resume}: an optuna sweep cannot be resumed (its study lives "
                             "in the sweep process); start it again")


def _distribution(dim: Dimension) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if dim.values is not None:
        return CategoricalDistribution(list(range(len(dim.values))))
    assert dim.low is not None and dim.high is not None
    if dim.integer:
        return IntDistribution(int(dim.low), int(dim.high), log=dim.log,
                               step=int(dim.step) if dim.step is not None else 1)
    return FloatDistribution(float(dim.low), float(dim.high), log=dim.log,
                             step=None if dim.step is None else float(dim.step))


def _value(dim: Dimension, drawn: Any) -> Any:
    if dim.values is not None:
        return dim.values[int(drawn)]
    return int(drawn) if dim.integer else float(drawn)


class _Point:
    """One optuna trial: its point, its seeds still to run, the objectives so far."""

    def __init__(self, ot: Any, index: int, point: dict[str, Any], first_trial: int) -> None:
        self.ot, self.index, self.point, self.first = ot, index, point, first_trial
        self.next_seed = 0
        self.values: list[float] = []
        self.pruned = False
        self.failed = False
        self.running = False


def run_optuna(spec: SweepSpec, store: RunStore, sweep_id: str, options: SweepOptions,
               log: Log | None) -> None:
    """Run the optuna study of ``spec`` as sweep ``sweep_id``'s trials."""
    import optuna

    from torchrack_runs._sweep_run import LocalExecutor, Progress, folder_of, trial_spec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruning = spec.pruning
    pruner: Any = (optuna.pruners.MedianPruner(n_startup_trials=int(pruning["startup_trials"]),
                                               n_warmup_steps=int(pruning["warmup_epochs"]))
                   if pruning.get("enabled", True) else optuna.pruners.NopPruner())
    direction: Any = spec.direction
    study = optuna.create_study(direction=direction, pruner=pruner,
                                sampler=optuna.samplers.TPESampler(seed=spec.sampler_seed))
    dists = {d.key: _distribution(d) for d in spec.dimensions}
    seeds, epochs, total = spec.seeds, spec.epochs, int(spec.trials or 0)
    points: list[_Point] = []
    by_trial: dict[int, tuple[_Point, int, dict[str, Any]]] = {}
    progress = Progress(total * len(seeds), options.jobs or 1, log)
    started: dict[int, float] = {}

    def next_spec() -> dict[str, Any] | None:
        for p in points:  # a point between two seeds goes on first
            if not p.running and not p.pruned and not p.failed and 0 < p.next_seed < len(seeds):
                return start(p)
        if len(points) < total:
            ot = study.ask(dists)
            point = {d.key: _value(d, ot.params[d.key]) for d in spec.dimensions}
            p = _Point(ot, len(points), point, len(points) * len(seeds) + 1)
            points.append(p)
            store.sweeps.add_trials(sweep_id, [
                {"trial": p.first + j, "point_index": p.index, "point": point, "seed": seed}
                for j, seed in enumerate(seeds)])
            return start(p)
        return None

    def start(p: _Point) -> dict[str, Any]:
        j = p.next_seed
        p.next_seed += 1
        p.running = True
        number = p.first + j
        row = {"trial": number, "point": p.point, "seed": seeds[j]}
        out = trial_spec(spec, store, sweep_id, row)
        out.update({"ask": True, "step_offset": j * epochs})
        by_trial[number] = (p, j, out)
        return out

    def on_event(trial: int, event: dict[str, Any]) -> dict[str, Any] | None:
        p, j, _ = by_trial[trial]
        kind = event.get("event")
        reply = None
        if kind == "started":
            started[trial] = time.monotonic()
            progress.running += 1
        elif kind == "epoch":
            value, epoch = event.get("value"), int(event.get("epoch", 0))
            if isinstance(value, (int, float)) and math.isfinite(value):
                p.ot.report(float(value), j * epochs + epoch - 1)
                if epoch < epochs:
                    prune = bool(p.ot.should_prune())
                    reply = {"prune": prune, "reason": f"optuna's median pruner at epoch {epoch} "
                             f"(step {j * epochs + epoch - 1}): {spec.objective} {value:.4g}"}
        elif kind == "done":
            status = str(event.get("status"))
            if status == "completed":
                p.values.append(float(event["objective"]))
            elif status == "pruned":
                p.pruned = True
            else:
                p.failed = True
        elif kind == "exit":
            p.running = False
            if trial in started:
                progress.running -= 1
                progress.durations.append(time.monotonic() - started.pop(trial))
            row = {t["trial"]: t for t in store.get_sweep(sweep_id)["trials"]}[trial]
            if row["status"] in ("running", "pending"):  # the worker died without an outcome
                store.sweeps.update_trial(sweep_id, trial, status="failed", ended_at=time.time(),
                                          error=f"the trial's worker ended with exit code "
                                                f"{event.get('returncode')} before reporting its outcome")
                p.failed = True
            if row["status"] in ("completed", "pruned"):
                progress.done += 1
            else:
                progress.failed += 1
            if p.pruned or p.failed:
                for k in range(p.next_seed, len(seeds)):  # the seeds this point will not run
                    store.sweeps.update_trial(sweep_id, p.first + k, status="pruned" if p.pruned else "failed",
                                              error=f"not run: seed {seeds[j]} of this point was "
                                                    f"{'pruned' if p.pruned else 'a failure'}")
                    progress.done += p.pruned
                    progress.failed += p.failed
                p.next_seed = len(seeds)
            if p.next_seed >= len(seeds):
                if p.pruned:
                    study.tell(p.ot, state=optuna.trial.TrialState.PRUNED)
                elif p.failed or not p.values:
                    study.tell(p.ot, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(p.ot, sum(p.values) / len(p.values))
        progress.show()
        return reply

    progress.show()
    LocalExecutor(options.jobs or 1, (), folder_of(store, sweep_id)).run(next_spec, on_event)
