"""The built-in tracker: a ``torchrack.hooks`` implementation that records runs in the run store.

It is on by default; the trainer registers ``StoreTracker(RunStore(path))`` on its plugin manager
beside any tracker plugin. The run object it receives is duck-typed: ``id`` (set here at run
start), ``name``, ``config``, ``config_sha256``, ``components``, ``environment``, ``seed``,
``resume_of``, ``final_metrics``, ``timings``, ``checkpoint`` and, optionally,
``sensitive_paths`` (config paths of params whose schema marks them ``x-sensitive``),
``resolved_config``, ``checkpoints`` and ``stopped``.

Hooks receive 0-based epoch indices; the record numbers epochs 1..N, as users see them (the
console, ``runs show``, ``eval``, plots), so this tracker writes ``epoch + 1``.
"""

from __future__ import annotations

from typing import Any

from torchrack.hookspecs import Run, hookimpl

from torchrack_runs._redact import secret_values
from torchrack_runs._store import RunStore


class StoreTracker:
    """Record each run, epoch, evaluation and checkpoint in a :class:`RunStore`, with events."""

    def __init__(self, store: RunStore) -> None:
        self.store = store

    @staticmethod
    def _sensitive(run: Run) -> tuple[str, ...]:
        return tuple(getattr(run, "sensitive_paths", None) or ())

    def record_of(self, run: Run, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """The initial run record (without ``run_id``) built from the run object's attributes."""
        record: dict[str, Any] = {
            "name": run.name or "",
            "config": run.config if run.config is not None else (config or {}),
            "config_sha256": run.config_sha256,
            "components": list(run.components or []),
            "environment": dict(run.environment or {}),
            "seed": run.seed,
            "final_metrics": dict(getattr(run, "final_metrics", None) or {}),
            "timings": dict(getattr(run, "timings", None) or {}),
            "checkpoint": getattr(run, "checkpoint", None),
        }
        resolved = getattr(run, "resolved_config", None)
        if resolved is not None:
            record["resolved_config"] = resolved
        links = getattr(run, "pretrained_from", None)
        if links:
            record["pretrained_from"] = list(links)
        return record

    # tryfirst: the run id is set before any other tracker's run_start sees the run.
    @hookimpl(tryfirst=True)
    def torchrack_run_start(self, run: Run, config: dict[str, Any]) -> None:
        """Create the run (or reopen ``run.resume_of``), set ``run.id`` and log ``run_start``."""
        resume_of = getattr(run, "resume_of", None)
        if resume_of:
            run_id = self.store.resolve(str(resume_of))
            self.store.reopen_run(run_id)
            self.store.register_secrets(
                run_id, secret_values(run.config or config or {}, paths=self._sensitive(run))
            )
            run.id = run_id
            self.store.log_event(run_id, "run_start", data={"resumed": True, "name": run.name})
            return
        run.id = self.store.create_run(
            self.record_of(run, config), sensitive_paths=self._sensitive(run)
        )
        self.store.log_event(
            run.id, "run_start",
            data={"name": run.name, "config_sha256": run.config_sha256, "seed": run.seed},
        )

    @hookimpl
    def torchrack_epoch_start(self, run: Run, epoch: int) -> None:
        """Log ``epoch_start`` (the epoch row is written when the epoch ends)."""
        if run.id is not None:
            self.store.log_event(run.id, "epoch_start", epoch=epoch + 1)

    @hookimpl
    def torchrack_epoch_end(self, run: Run, epoch: int, metrics: dict[str, float]) -> None:
        """Record the epoch's metrics (replacing a redone epoch) and log ``epoch_end``."""
        if run.id is not None:
            self.store.add_epoch(run.id, epoch + 1, metrics)
            self.store.log_event(run.id, "epoch_end", epoch=epoch + 1, metrics=metrics)

    @hookimpl
    def torchrack_train_step_end(self, run: Run, epoch: int, step: int, loss: float) -> None:
        """Log ``train_step_end`` with the step's loss (event log only, not the database)."""
        if run.id is not None:
            self.store.log_event(run.id, "train_step_end", epoch=epoch + 1, step=step + 1,
                                 metrics={"loss": loss})

    @hookimpl
    def torchrack_evaluation_end(self, run: Run, split: str, metrics: dict[str, Any]) -> None:
        """Append the evaluation to the record (source "train") and log ``evaluation_end``."""
        if run.id is not None:
            checkpoint = getattr(run, "checkpoint", None)
            self.store.add_evaluation(run.id, split, metrics, checkpoint, "train")
            self.store.log_event(run.id, "evaluation_end", metrics=metrics,
                                 data={"split": split, "checkpoint": checkpoint})

    @hookimpl
    def torchrack_checkpoint_saved(self, run: Run, path: str, epoch: int) -> None:
        """Point the record at the new checkpoint and log ``checkpoint_saved``."""
        if run.id is not None:
            self.store.set_checkpoint(run.id, str(path), epoch + 1)
            kept = getattr(run, "checkpoints", None)
            if kept:
                self.store.update_fields(run.id, {"checkpoints": list(kept)})
            self.store.log_event(run.id, "checkpoint_saved", epoch=epoch + 1,
                                 data={"path": str(path)})

    @hookimpl
    def torchrack_run_end(self, run: Run, status: str, error: str | None) -> None:
        """Finish the record with status, final metrics, error and timings; log ``run_end``."""
        if run.id is None:
            return
        final = dict(getattr(run, "final_metrics", None) or {})
        timings = dict(getattr(run, "timings", None) or {})
        stopped = getattr(run, "stopped", None)
        if stopped:
            self.store.update_fields(run.id, {"stopped": dict(stopped)})
        self.store.finish_run(run.id, status, final, error, timings)
        data: dict[str, Any] = {"status": status}
        if error is not None:
            data["error"] = error
        self.store.log_event(run.id, "run_end", metrics=final, data=data)

    @hookimpl
    def torchrack_run_record_finalized(self, run: Run, record: dict[str, Any]) -> None:
        """Log ``run_record_finalized`` with the record's status and config hash."""
        if run.id is not None:
            self.store.log_event(
                run.id, "run_record_finalized",
                data={"status": record.get("status"), "config_sha256": record.get("config_sha256")},
            )
