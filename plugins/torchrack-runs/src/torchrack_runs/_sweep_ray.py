"""``--executor ray [--address ADDR]``: each trial a Ray task, its run written back by the driver.

Each trial is submitted as a Ray task with the resources of ``[sweep.resources]`` (``num_cpus``,
default 1, also the trial's torch threads; ``num_gpus``, default 0), ``--jobs N`` at a time
(default: every trial at once, and Ray queues what the cluster cannot hold). The task trains the
trial with :func:`~torchrack_runs._sweep_trial.run_trial` into a private run store of its own,
under ``<store folder>/sweeps/<id>/ray/trial-<n>/`` on the node that runs it (checkpoints and
event logs stay there), and returns the run's record; the sweep process (the driver) writes it
into the sweep's store as an ordinary run, with its epochs and evaluations, and records the
trial. Only the driver writes the sweep's store, so the workers need no shared file system.

``--address``: ``host:port`` of a running cluster's head (``ray start --head`` prints it), or
``ray://host:10001`` (Ray Client), or ``auto``; without it, a Ray instance already started in
this process is used, else a local one is started. An address that does not answer is refused
in seconds (a TCP probe before ``ray.init``, which would otherwise retry for minutes).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torchrack import TorchrackError

__all__ = ["RayExecutor", "RayUnavailableError", "import_record", "probe_address"]

#: Seconds the TCP probe of ``--address`` waits.
PROBE_TIMEOUT = 5.0


class RayUnavailableError(TorchrackError):
    """``--executor ray`` without Ray installed, or a cluster that does not answer."""


def probe_address(address: str, timeout: float = PROBE_TIMEOUT) -> None:
    """Raise :class:`RayUnavailableError` unless something listens at ``address``."""
    text = address.strip()
    rest = text.split("://", 1)[1] if "://" in text else text
    host, sep, port = rest.rstrip("/").rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise RayUnavailableError(f"--address {address!r}: expected host:port (the head node's GCS "
                                  "address, e.g. 10.0.0.5:6379), ray://host:10001, or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise RayUnavailableError(
            f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}, within "
            f"{timeout:g} s); start one with `ray start --head` and pass the address it prints, or "
            "leave out --address for a local Ray instance") from None


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailableError(f"--executor ray needs Ray: pip install 'ray[default]' ({exc})") from None
    return ray


def _trial_task(spec: dict[str, Any]) -> dict[str, Any]:
    """The body of a trial's Ray task: train into a private store, return the run's record."""
    from torchrack_runs._store import RunStore
    from torchrack_runs._sweep_trial import run_trial

    folder = Path(spec["store"]).parent
    folder.mkdir(parents=True, exist_ok=True)
    # The config travels as text: this node need not see the driver's files.
    config = folder / f"trial-{spec['trial']}{spec['config_suffix']}"
    config.write_text(spec["config_text"], encoding="utf-8")
    outcome = run_trial({**spec, "config": str(config)})
    record = None
    if outcome.get("run_id") is not None:
        with RunStore(spec["store"]) as store:
            record = store.get(str(outcome["run_id"]))
    return {"outcome": outcome, "record": record}


def import_record(store: Any, record: dict[str, Any]) -> str:
    """Write a run ``record`` (from another store) into ``store`` as a new run; return its id."""
    rec = dict(record)
    epochs, evaluations = rec.pop("epochs", []), rec.pop("evaluations", [])
    status, error = str(rec.pop("status")), rec.pop("error", None)
    final, timings = rec.pop("final_metrics", {}), rec.get("timings", {})
    for key in ("run_id", "schema_version"):
        rec.pop(key, None)
    run_id: str = store.create_run(rec)
    for e in epochs:
        store.add_epoch(run_id, int(e["epoch"]), e["metrics"])
    for ev in evaluations:
        store.add_evaluation(run_id, ev["split"], ev["metrics"], ev.get("checkpoint"),
                             ev.get("source") or "train")
    store.finish_run(run_id, status if status in ("completed", "failed") else "interrupted",
                     final, error, timings)
    return run_id


class RayExecutor:
    """Trials as Ray tasks; see the module docstring."""

    def __init__(self, address: str | None, *, jobs: int | None = None,
                 resources: dict[str, Any] | None = None, store: Any = None) -> None:
        self.address = address
        self.jobs = jobs
        self.resources = {"num_cpus": 1, "num_gpus": 0, **(resources or {})}
        self.store = store

    def connect(self) -> Any:
        ray = _ray()
        if self.address and self.address != "auto":
            probe_address(self.address)
        if ray.is_initialized():
            return ray
        try:
            ray.init(address=self.address or None, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayUnavailableError(f"--executor ray: could not connect to the Ray cluster "
                                      f"{self.address or '(local)'}: {exc}") from None
        return ray

    def run(self, specs: Any, on_event: Callable[[int, dict[str, Any]], Any]) -> None:
        from torchrack_runs._sweep_run import _source

        ray = self.connect()
        task = ray.remote(_trial_task).options(num_cpus=self.resources["num_cpus"],
                                               num_gpus=self.resources["num_gpus"], max_retries=0)
        next_spec = _source(specs)
        threads = max(1, int(self.resources["num_cpus"]))
        inflight: dict[Any, dict[str, Any]] = {}
        try:
            self._loop(ray, task, next_spec, threads, inflight, on_event)
        finally:  # stopped early (Ctrl-C, an error): the cluster stops the trials too
            for ref in inflight:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - already finished, or the cluster is gone
                    pass

    def _loop(self, ray: Any, task: Any, next_spec: Callable[[], dict[str, Any] | None], threads: int,
              inflight: dict[Any, dict[str, Any]], on_event: Callable[[int, dict[str, Any]], Any]) -> None:
        while True:
            while self.jobs is None or len(inflight) < self.jobs:
                spec = next_spec()
                if spec is None:
                    break
                folder = Path(spec["config"]).parent / "ray" / f"trial-{spec['trial']}"
                config = Path(spec["config"])
                remote = {**spec, "store": str(folder / "runs.sqlite"), "record_trial": False,
                          "threads": threads, "resume": None, "config_suffix": config.suffix,
                          "config_text": config.read_text(encoding="utf-8")}
                inflight[task.remote(remote)] = spec
                on_event(int(spec["trial"]), {"event": "started", "driver_writes": True})
            if not inflight:
                break
            ready, _ = ray.wait(list(inflight), num_returns=1)
            spec = inflight.pop(ready[0])
            trial = int(spec["trial"])
            try:
                result = ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001 - a task that died (worker lost, OOM...)
                on_event(trial, {"event": "done", "status": "failed", "driver_writes": True,
                                 "run_id": None, "objective": None,
                                 "error": f"the trial's Ray task failed: {type(exc).__name__}: "
                                          f"{(str(exc).strip().splitlines() or [''])[-1]}"})
                continue
            outcome, record = result["outcome"], result["record"]
            run_id = None
            if record is not None:
                run_id = import_record(self.store, record)
            on_event(trial, {"event": "done", **outcome, "run_id": run_id, "driver_writes": True,
                             "ended_at": time.time()})
