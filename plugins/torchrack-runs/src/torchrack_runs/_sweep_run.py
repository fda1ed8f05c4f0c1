"""Running a sweep: its trials checked, recorded, scheduled on an executor, and the sweep finished.

:func:`run_sweep` is ``torchrack sweep SWEEP.toml`` and ``torchrack sweep --resume ID``:

1. every trial is checked before anything is written (:func:`~torchrack_runs._sweep_check.check_sweep`);
2. the sweep and its trials (points x seeds, numbered 1..N, point-major) are recorded in the run
   store, and each trial's config is written to ``<store folder>/sweeps/<id>/trial-<n>.toml``;
3. the trials not yet completed run on the executor: local worker processes
   (:class:`LocalExecutor`, CPU threads split among them, one device each with ``--devices``), or
   Ray tasks (:mod:`torchrack_runs._sweep_ray`); a failed trial is recorded failed and the others
   go on; a progress line says done / running / failed and the ETA;
4. the sweep ends ``completed`` (no trial failed) or ``failed``, with its best point.

On resume, a trial whose run completed keeps it; an interrupted run with a checkpoint is
continued (``torchrack run --resume``); any other trial runs again from its start.
"""

from __future__ import annotations

import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchrack import TorchrackError
from torchrack.plugins import Registry, Settings

from torchrack_runs._store import RunStore
from torchrack_runs._sweep_config import SweepSpec, point_text, spec_from_document, write_config

__all__ = ["LocalExecutor", "Progress", "SweepOptions", "best_of", "run_sweep", "thread_share"]

#: ``log(line)``: where the sweep's messages go (stderr in the CLI).
Log = Callable[[str], None]
#: ``on_event(trial, event) -> reply``: an executor's events; a reply (a dict) goes back to the
#: trial (optuna's answer to an epoch).
OnEvent = Callable[[int, dict[str, Any]], dict[str, Any] | None]

#: What an executor runs: a list of trial specs, or a function giving the next (None: none now).
Source = Sequence[dict[str, Any]] | Callable[[], dict[str, Any] | None]

DONE_STATUSES = ("completed", "pruned")


def _source(specs: Source) -> Callable[[], dict[str, Any] | None]:
    if callable(specs):
        return specs
    pending = list(specs)
    return lambda: pending.pop(0) if pending else None


@dataclass
class SweepOptions:
    """How to run a sweep: ``jobs`` at a time on ``executor`` (local or ray)."""

    jobs: int | None = None  # None: 1 on the local executor, as many as Ray places on ray
    executor: str = "local"
    address: str | None = None
    devices: list[str] = field(default_factory=list)

    def settings(self) -> dict[str, Any]:
        return {"jobs": self.jobs, "executor": self.executor, "address": self.address,
                "devices": list(self.devices)}


def thread_share(jobs: int, cpus: int | None = None) -> int:
    """The CPU threads each of ``jobs`` concurrent trials gets: the CPUs this process may use,
    shared out, at least one."""
    if cpus is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, jobs))


def best_of(spec: SweepSpec, trials: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The best point: the highest (or lowest) mean objective over its completed seeds."""
    from torchrack_runs._sweep_results import point_rows

    rows = [r for r in point_rows(trials, spec.direction) if r["mean"] is not None]
    if not rows:
        return None
    top = rows[0]
    return {"point_index": top["point_index"], "point": top["point"], "mean": top["mean"],
            "std": top["std"], "seeds": top["n"], "run_id": top["best_run"]}


class Progress:
    """The sweep's progress line: done / running / failed of the total, and the ETA."""

    def __init__(self, total: int, jobs: int, log: Log | None, done: int = 0) -> None:
        self.total, self.jobs, self.log = total, jobs, log
        self.done, self.running, self.failed = done, 0, 0
        self.durations: list[float] = []
        self.last = ""

    def eta(self) -> str:
        left = self.total - self.done - self.failed
        if not self.durations or left <= 0:
            return "?" if left > 0 else "0:00"
        seconds = sum(self.durations) / len(self.durations) * math.ceil(left / max(1, self.jobs))
        return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"

    def line(self) -> str:
        return (f"sweep: {self.done}/{self.total} done, {self.running} running, {self.failed} "
                f"failed, ETA {self.eta()}")

    def show(self) -> None:
        text = self.line()
        if self.log is not None and text != self.last:
            self.last = text
            self.log(text)


# -- the local executor ------------------------------------------------------------------------------


class LocalExecutor:
    """Trials as worker processes of this machine (``python -m torchrack_runs._sweep_worker``),
    ``jobs`` at a time, each with its share of the CPU threads and (``devices``) one GPU."""

    def __init__(self, jobs: int, devices: Sequence[str] = (), log_dir: Path | None = None) -> None:
        self.jobs = len(devices) if devices else jobs
        self.devices = [d.split(":", 1)[1] if ":" in d else d for d in devices]
        self.threads = thread_share(self.jobs)
        self.log_dir = log_dir

    def run(self, specs: Source, on_event: OnEvent) -> None:
        """Run every spec (a list, or a function giving the next one, None while there is none
        to start); each worker's events go to ``on_event`` (the last is ``exit``)."""
        next_spec = _source(specs)
        events: queue.Queue[tuple[int, dict[str, Any] | None]] = queue.Queue()
        running: dict[int, tuple[subprocess.Popen[str], str | None]] = {}
        free = list(self.devices)
        try:
            while True:
                while len(running) < self.jobs:
                    spec = next_spec()
                    if spec is None:
                        break
                    device = free.pop(0) if self.devices else None
                    running[int(spec["trial"])] = (self._start(spec, device, events), device)
                if not running:
                    break
                trial, event = events.get()
                proc, device = running[trial]
                if event is None:  # the worker's stdout closed: it ended
                    proc.wait()
                    del running[trial]
                    if device is not None:
                        free.append(device)
                    on_event(trial, {"event": "exit", "returncode": proc.returncode})
                    continue
                reply = on_event(trial, event)
                if reply is not None and proc.stdin is not None:
                    try:
                        proc.stdin.write(json.dumps(reply) + "\n")
                        proc.stdin.flush()
                    except OSError:
                        pass  # it ended meanwhile
        finally:
            for proc, _ in running.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc, _ in running.values():
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def _start(self, spec: dict[str, Any], device: str | None,
               events: queue.Queue[tuple[int, dict[str, Any] | None]]) -> subprocess.Popen[str]:
        env = dict(os.environ)
        threads = str(self.threads)
        env.update({"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads})
        if device is not None:
            env["CUDA_VISIBLE_DEVICES"] = device
        spec = {**spec, "threads": self.threads, "parent": os.getpid()}
        log_path = Path(spec["log"])
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "torchrack_runs._sweep_worker", json.dumps(spec)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, text=True,
                encoding="utf-8")
        trial = int(spec["trial"])

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    events.put((trial, event))
            events.put((trial, None))

        threading.Thread(target=read, name=f"torchrack-sweep-trial-{trial}", daemon=True).start()
        return proc


# -- the sweep ---------------------------------------------------------------------------------------


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def folder_of(store: RunStore, sweep_id: str) -> Path:
    return Path(store.path).resolve().parent / "sweeps" / str(sweep_id)


def trial_spec(spec: SweepSpec, store: RunStore, sweep_id: str, trial: dict[str, Any]) -> dict[str, Any]:
    folder = folder_of(store, sweep_id)
    folder.mkdir(parents=True, exist_ok=True)
    number = int(trial["trial"])
    config = spec.trial_config(trial["point"], seed=int(trial["seed"]), trial=number)
    path = write_config(folder / f"trial-{number}", config)
    out: dict[str, Any] = {
        "sweep_id": str(sweep_id), "trial": number, "point": trial["point"],
        "seed": int(trial["seed"]), "config": str(path), "store": str(Path(store.path).resolve()),
        "objective": spec.objective, "epochs": spec.epochs, "record_trial": True,
        "log": str(folder / f"trial-{number}.log"),
    }
    run_id = trial.get("run_id")
    if run_id is not None and trial.get("run_status") != "completed":
        record = store.get(str(run_id))
        ckpt = record.get("checkpoint")
        if ckpt and Path(ckpt).is_file():
            out["resume"] = str(run_id)
    return out


def make_executor(spec: SweepSpec, store: RunStore, options: SweepOptions, folder: Path) -> Any:
    if options.executor == "ray":
        from torchrack_runs._sweep_ray import RayExecutor

        return RayExecutor(options.address, jobs=options.jobs, resources=spec.resources, store=store)
    return LocalExecutor(options.jobs or 1, options.devices, folder)


def _parallel(options: SweepOptions, todo: int) -> int:
    if options.devices:
        return len(options.devices)
    return options.jobs or (max(1, todo) if options.executor == "ray" else 1)


def _at_a_time(options: SweepOptions) -> str:
    if options.jobs is None and not options.devices and options.executor == "ray":
        return "as many as the cluster places"
    return str(_parallel(options, 1))


def check_options(options: SweepOptions) -> None:
    """Refuse what cannot run: ``--devices`` without those CUDA devices, or with Ray."""
    if options.jobs is not None and options.jobs < 1:
        raise TorchrackError(f"--jobs {options.jobs}: expected a whole number of at least 1")
    if options.executor not in ("local", "ray"):
        raise TorchrackError(f"--executor {options.executor!r}: expected local or ray")
    if options.address and options.executor != "ray":
        raise TorchrackError("--address is the Ray cluster's: use it with --executor ray")
    if options.devices:
        if options.executor == "ray":
            raise TorchrackError("--devices is for the local executor; with --executor ray, ask for "
                                 "GPUs in [sweep.resources] num_gpus and Ray places the trials")
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        for device in options.devices:
            index = device.split(":", 1)[1] if device.startswith("cuda:") else None
            if index is None or not index.isdigit():
                raise TorchrackError(f"--devices: {device!r} is not a CUDA device; expected e.g. "
                                     "--devices cuda:0,cuda:1")
            if int(index) >= count:
                have = f"{count} CUDA device(s)" if count else "no CUDA device (torch.cuda.is_available() is False)"
                raise TorchrackError(f"--devices: {device} does not exist: this machine has {have}; "
                                     "run without --devices to use the CPU")


def run_sweep(path: str | None, overrides: Sequence[str], options: SweepOptions, *,
              store_path: str | os.PathLike[str] | None, resume: str | None = None,
              settings: Settings | None = None, registry: Registry | None = None,
              log: Log | None = None) -> dict[str, Any]:
    """Run (or with ``resume``, continue) a sweep; return its record from the store."""
    from torchrack.plugins import load_settings

    from torchrack_runs._sweep_check import check_sweep

    check_options(options)
    settings = settings if settings is not None else load_settings()
    if registry is None:
        registry = Registry.discover(settings)
    store_file = Path(store_path).expanduser() if store_path is not None else RunStore.default_path()
    if resume is not None:
        if not store_file.is_file():
            raise TorchrackError(f"--resume {resume}: no run store at {store_file} (give --store)")
        with RunStore(store_file) as store:
            sweep = store.get_sweep(resume)
        spec = spec_from_document(sweep["config"], str(sweep["source"]))
        if path is not None:
            from torchrack_runs._sweep_config import load_sweep

            given = load_sweep(path, overrides)
            if given.sha256 != spec.sha256:
                raise TorchrackError(
                    f"--resume {sweep['sweep_id']}: {path} (with its --set) is not the sweep that was "
                    "recorded; resume with `torchrack sweep --resume ID` alone, or start a new sweep")
        elif overrides:
            raise TorchrackError("--set with --resume: a sweep resumes with its recorded config; "
                                 "start a new sweep to change it")
    else:
        if path is None:
            raise TorchrackError("give a sweep file (torchrack sweep SWEEP.toml) or --resume ID")
        from torchrack_runs._sweep_config import load_sweep

        spec = load_sweep(path, overrides)
    if spec.method == "optuna":
        from torchrack_runs._sweep_optuna import require_optuna

        require_optuna(options, resume)
    if options.executor == "ray":  # refused here, before anything is written, if it does not answer
        from torchrack_runs._sweep_ray import RayExecutor

        RayExecutor(options.address).connect()
    checked = check_sweep(spec, registry, settings, log=None)
    if log is not None:
        log(f"checked {checked} point(s) of {spec.source}: schema, components and tensor contracts")
    with RunStore(store_file) as store:
        if resume is None:
            trials = [] if spec.method == "optuna" else [
                {"trial": i * len(spec.seeds) + j + 1, "point_index": i, "point": point, "seed": seed}
                for i, point in enumerate(spec.points()) for j, seed in enumerate(spec.seeds)]
            settings_row = {**options.settings(), "keys": spec.keys}
            sweep_id = store.sweeps.create(
                {"name": spec.name, "method": spec.method, "objective": spec.objective,
                 "direction": spec.direction, "source": spec.source, "config": spec.document(),
                 "config_sha256": spec.sha256, "settings": settings_row}, trials)
            if log is not None:
                log(f"sweep {sweep_id} ({spec.name}): {len(trials) or spec.trials} trial(s), "
                    f"{_at_a_time(options)} at a time on {options.executor}; recorded in {store.path}")
        else:
            sweep_id = str(store.sweeps.resolve(resume))
            store.sweeps.reopen(sweep_id)
            if log is not None:
                log(f"resuming sweep {sweep_id} ({spec.name})")
        try:
            if spec.method == "optuna":
                from torchrack_runs._sweep_optuna import run_optuna

                run_optuna(spec, store, sweep_id, options, log)
            else:
                _run_trials(spec, store, sweep_id, options, log)
        except KeyboardInterrupt:
            store.sweeps.finish(sweep_id, "interrupted", best=None, error="interrupted (Ctrl-C)")
            raise
        except TorchrackError as exc:
            store.sweeps.finish(sweep_id, "failed", best=None, error=str(exc))
            raise
        return finish(spec, store, sweep_id)


def finish(spec: SweepSpec, store: RunStore, sweep_id: str) -> dict[str, Any]:
    """End the sweep: completed when every trial completed (or was pruned), else failed."""
    trials = store.get_sweep(sweep_id)["trials"]
    failed = [t for t in trials if t["status"] not in DONE_STATUSES]
    error = None
    if failed:
        error = f"{len(failed)} of {len(trials)} trial(s) did not complete: " + ", ".join(
            f"trial {t['trial']} ({t['status']})" for t in failed[:10])
    store.sweeps.finish(sweep_id, "failed" if failed else "completed", best=best_of(spec, trials),
                        error=error)
    return store.get_sweep(sweep_id)


def _run_trials(spec: SweepSpec, store: RunStore, sweep_id: str, options: SweepOptions,
                log: Log | None) -> None:
    trials = store.get_sweep(sweep_id)["trials"]
    todo = []
    for t in trials:
        if t["status"] in DONE_STATUSES:
            continue
        if t["run_id"] is not None and t["run_status"] == "completed":
            # The run finished but the trial row was not written (the sweep was killed between).
            from torchrack_runs._sweep_trial import outcome_of

            out = outcome_of(store.get(str(t["run_id"])), spec.objective)
            store.sweeps.update_trial(sweep_id, t["trial"], status=out["status"],
                                      objective=out["objective"], error=out["error"])
            if out["status"] in DONE_STATUSES:
                continue
        todo.append(trial_spec(spec, store, sweep_id, t))
    progress = Progress(len(trials), _parallel(options, len(todo)), log, done=len(trials) - len(todo))
    by_trial = {int(s["trial"]): s for s in todo}
    started: dict[int, float] = {}
    ended: set[int] = set()
    progress.show()

    def on_event(trial: int, event: dict[str, Any]) -> dict[str, Any] | None:
        kind = event.get("event")
        if kind == "started" and trial not in started:
            started[trial] = time.monotonic()
            progress.running += 1
            if event.get("driver_writes"):  # Ray: submitted; the worker writes nothing here
                store.sweeps.update_trial(sweep_id, trial, status="running", started_at=time.time())
        elif kind in ("done", "exit") and trial not in ended:
            ended.add(trial)
            if trial in started:
                progress.running -= 1
                progress.durations.append(time.monotonic() - started[trial])
            status = event.get("status") if kind == "done" else None
            if status is None:  # the worker ended without an outcome: it crashed
                spec_ = by_trial[trial]
                why = _tail(Path(spec_["log"])) if "log" in spec_ else ""
                error = (f"the trial's worker ended with exit code {event.get('returncode')} "
                         f"before reporting its outcome" + (f"; its log ends:\n{why}" if why else ""))
                store.sweeps.update_trial(sweep_id, trial, status="failed", error=error,
                                          ended_at=time.time())
                status = "failed"
            elif event.get("driver_writes"):  # Ray: the driver imported the run
                store.sweeps.update_trial(sweep_id, trial, status=status, error=event.get("error"),
                                          objective=event.get("objective"), ended_at=time.time(),
                                          run_id=event.get("run_id"))
            if status in DONE_STATUSES:
                progress.done += 1
            else:
                progress.failed += 1
                if log is not None:
                    point = {k: by_trial[trial]["point"][k] for k in spec.keys}
                    first = str(event.get("error") or "").strip().splitlines()[:1]
                    log(f"trial {trial} ({point_text(point)}, seed {by_trial[trial]['seed']}) "
                        f"{status}: {first[0] if first else 'see its log'}")
        progress.show()
        return None

    if todo:
        make_executor(spec, store, options, folder_of(store, sweep_id)).run(todo, on_event)


def reopen_spec(document: dict[str, Any], source: str) -> SweepSpec:
    """The spec of a recorded sweep (for results and resume)."""
    return spec_from_document(document, source)
