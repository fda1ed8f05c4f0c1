"""Sweeps in the run store: the ``sweeps`` and ``sweep_trials`` tables (store schema 2).

:class:`~torchrack_runs._store.RunStore` exposes these as its sweep methods (``create_sweep``,
``get_sweep``, ...); they live here so that the store module stays about runs. A sweep row keeps
the sweep's resolved document (the experiment config with ``--set`` applied, and the ``[sweep]``
table), its settings (executor, jobs, key order), its status and its best point; a trial row is
one point at one seed, with its status and the run that trained it. Sweep ids are integers in
order of creation, like run ids, and ``latest`` names the newest.

Statuses: a sweep is ``running``, ``completed`` (every trial completed or pruned), ``failed``
(it ended with failed trials, or could not go on) or ``interrupted``; one whose process on this
host is gone reads back as ``interrupted``. A trial is ``pending``, ``running``, ``completed``,
``failed``, ``pruned`` or ``interrupted``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from torchrack import TorchrackError

from torchrack_runs._connection import Database
from torchrack_runs._procs import hostname, pid_alive, process_start
from torchrack_runs._records import INT_MAX, RUN_ID, check_int, loads, to_json
from torchrack_runs._store_errors import RecordNotFoundError

__all__ = [
    "SWEEP_STATUSES",
    "TRIAL_FIELDS",
    "TRIAL_STATUSES",
    "SweepInUseError",
    "SweepNotFoundError",
    "SweepTables",
]

SWEEP_STATUSES = ("running", "completed", "failed", "interrupted")
TRIAL_STATUSES = ("pending", "running", "completed", "failed", "pruned", "interrupted")

#: Columns of ``sweep_trials`` that :meth:`SweepTables.update_trial` may set.
TRIAL_FIELDS = frozenset({"status", "run_id", "objective", "error", "started_at", "ended_at"})


class SweepNotFoundError(RecordNotFoundError):
    """No sweep answers to a reference; the message names the store and its latest sweep ids."""


class SweepInUseError(TorchrackError):
    """A sweep that a live process on this host still runs cannot be resumed."""

    def __init__(self, message: str, sweep_id: str, pid: int) -> None:
        super().__init__(message)
        self.sweep_id = sweep_id
        self.pid = pid


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class SweepTables:
    """The sweep rows of one store, through its :class:`Database` (transactions, errors)."""

    def __init__(self, db: Database, path: Path) -> None:
        self.db = db
        self.path = path

    # -- references ------------------------------------------------------------------------------

    def latest_ids(self, n: int = 5) -> list[str]:
        """The ids of the ``n`` newest sweeps, newest first."""
        with self.db.reading("listing its sweeps") as conn:
            rows = conn.execute("SELECT id FROM sweeps ORDER BY id DESC LIMIT ?",
                                (min(max(int(n), 0), INT_MAX),))
            return [str(r[0]) for r in rows]

    def not_found(self, ref: str, why: str | None = None) -> SweepNotFoundError:
        latest = self.latest_ids()
        known = f"latest sweeps: {', '.join(latest)}" if latest else "the store has no sweeps yet"
        message = why or f"no sweep {_short(ref)!r} in the store {self.path}"
        return SweepNotFoundError(f"{message} ({known}; `torchrack sweep list` shows them all)",
                                  ref, self.path)

    def resolve(self, ref: str | int) -> int:
        """The sweep id that ``ref`` (an id, or ``latest``) names; :class:`SweepNotFoundError`."""
        text = str(ref).strip()
        if text.lower() == "latest":
            latest = self.latest_ids(1)
            if not latest:
                raise self.not_found(text, f"no latest sweep: the store {self.path} has no sweeps")
            return int(latest[0])
        if not RUN_ID.fullmatch(text):
            raise self.not_found(text, f"{_short(text)!r} is not a sweep reference in the store "
                                       f"{self.path}: use a sweep id (1, 2, ...) or 'latest'")
        digits = text.lstrip("0") or "0"
        if len(digits) > 19 or int(digits) > INT_MAX:
            raise self.not_found(text)
        sid = int(digits)
        with self.db.reading("looking up a sweep") as conn:
            row = conn.execute("SELECT 1 FROM sweeps WHERE id = ?", (sid,)).fetchone()
        if row is None:
            raise self.not_found(text)
        return sid

    # -- writing ---------------------------------------------------------------------------------

    def create(self, sweep: Mapping[str, Any], trials: Iterable[Mapping[str, Any]]) -> str:
        """Record a new sweep (status running, owned by this process) with its first trials,
        all in one transaction; return its id. ``sweep``: name, method, objective, direction,
        source, config, config_sha256, settings."""
        now, pid = time.time(), os.getpid()
        rows = [self._trial_row(0, t) for t in trials]
        with self.db.transaction("recording a new sweep") as conn:
            cur = conn.execute(
                "INSERT INTO sweeps(name, status, error, method, objective, direction, source,"
                " config, config_sha256, settings, best, pid, pid_start, hostname, created_at,"
                " updated_at) VALUES (?, 'running', NULL, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
                (str(sweep["name"]), str(sweep["method"]), str(sweep["objective"]),
                 str(sweep["direction"]), str(sweep["source"]), to_json("config", sweep["config"]),
                 str(sweep["config_sha256"]), to_json("settings", sweep.get("settings") or {}),
                 pid, process_start(pid), hostname(), now, now),
            )
            sid = cur.lastrowid
            assert sid is not None
            self._insert_trials(conn, sid, rows)
        return str(sid)

    @staticmethod
    def _trial_row(sid: int, trial: Mapping[str, Any]) -> tuple[Any, ...]:
        status = str(trial.get("status", "pending"))
        if status not in TRIAL_STATUSES:
            raise ValueError(f"a trial's status is one of {', '.join(TRIAL_STATUSES)}, not {status!r}")
        return (sid, check_int("trial", trial["trial"], minimum=1),
                check_int("point_index", trial["point_index"], minimum=0),
                to_json("point", dict(trial["point"])), check_int("seed", trial["seed"], minimum=0),
                status)

    @staticmethod
    def _insert_trials(conn: Any, sid: int, rows: list[tuple[Any, ...]]) -> None:
        for row in rows:
            conn.execute(
                "INSERT INTO sweep_trials(sweep_id, trial, point_index, point, seed, status)"
                " VALUES (?, ?, ?, ?, ?, ?)", (sid, *row[1:]))

    def add_trials(self, sweep_id: str | int, trials: Iterable[Mapping[str, Any]]) -> None:
        """Add trials to a sweep (optuna chooses its points as it goes)."""
        sid = self.resolve(sweep_id)
        rows = [self._trial_row(sid, t) for t in trials]
        with self.db.transaction(f"adding trials to sweep {sid}") as conn:
            self._insert_trials(conn, sid, rows)
            conn.execute("UPDATE sweeps SET updated_at = ? WHERE id = ?", (time.time(), sid))

    def update_trial(self, sweep_id: str | int, trial: int, **fields: Any) -> None:
        """Set columns of one trial (``status``, ``run_id``, ``objective``, ``error``,
        ``started_at``, ``ended_at``)."""
        unknown = sorted(set(fields) - TRIAL_FIELDS)
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a trial field ({', '.join(sorted(TRIAL_FIELDS))})")
        if "status" in fields and fields["status"] not in TRIAL_STATUSES:
            raise ValueError(f"a trial's status is one of {', '.join(TRIAL_STATUSES)}, "
                             f"not {fields['status']!r}")
        if fields.get("run_id") is not None:
            fields["run_id"] = check_int("run_id", int(fields["run_id"]), minimum=1)
        sid = int(sweep_id)
        names = sorted(fields)
        sets = ", ".join(f"{n} = ?" for n in names)
        with self.db.transaction(f"updating trial {trial} of sweep {sid}") as conn:
            cur = conn.execute(f"UPDATE sweep_trials SET {sets} WHERE sweep_id = ? AND trial = ?",
                               (*(fields[n] for n in names), sid, int(trial)))
            if not cur.rowcount:
                raise ValueError(f"sweep {sid} has no trial {trial}")
            conn.execute("UPDATE sweeps SET updated_at = ? WHERE id = ?", (time.time(), sid))

    def finish(self, sweep_id: str | int, status: str, *, best: Mapping[str, Any] | None,
               error: str | None) -> None:
        """End a sweep with ``status`` (completed, failed, interrupted), its best point, error."""
        if status not in SWEEP_STATUSES[1:]:
            raise ValueError(f"a sweep ends with one of {', '.join(SWEEP_STATUSES[1:])}, not {status!r}")
        sid = int(sweep_id)
        best_text = None if best is None else to_json("best", dict(best))
        with self.db.transaction(f"finishing sweep {sid}") as conn:
            conn.execute("UPDATE sweeps SET status = ?, error = ?, best = ?, updated_at = ? "
                         "WHERE id = ?", (status, error, best_text, time.time(), sid))

    def reopen(self, sweep_id: str | int) -> None:
        """Continue a sweep (``--resume``): running again, owned by this process; its trials
        left running by a process that is gone become interrupted. Raises
        :class:`SweepInUseError` while another live process on this host still runs it."""
        sid = self.resolve(sweep_id)
        pid, host = os.getpid(), hostname()
        with self.db.transaction(f"reopening sweep {sid}") as conn:
            status, owner, start, owner_host = conn.execute(
                "SELECT status, pid, pid_start, hostname FROM sweeps WHERE id = ?", (sid,)
            ).fetchone()
            if (status == "running" and owner_host == host and owner != pid
                    and pid_alive(owner, start)):
                raise SweepInUseError(
                    f"sweep {sid} is still running in process {owner} on {host}; stop that "
                    "process (or wait for it) before resuming the sweep", str(sid), int(owner))
            conn.execute(
                "UPDATE sweeps SET status = 'running', error = NULL, pid = ?, pid_start = ?,"
                " hostname = ?, updated_at = ? WHERE id = ?",
                (pid, process_start(pid), host, time.time(), sid))
            conn.execute("UPDATE sweep_trials SET status = 'interrupted' WHERE sweep_id = ? AND"
                         " status = 'running'", (sid,))

    # -- reading ---------------------------------------------------------------------------------

    def get(self, ref: str | int) -> dict[str, Any]:
        """The sweep ``ref`` with its trials (and each trial's run's final metrics)."""
        sid = self.resolve(ref)
        with self.db.snapshot(f"reading sweep {sid}") as conn:
            cur = conn.execute("SELECT * FROM sweeps WHERE id = ?", (sid,))
            names = [d[0] for d in cur.description]
            row = dict(zip(names, cur.fetchone(), strict=True))
            trials = conn.execute(
                "SELECT t.trial, t.point_index, t.point, t.seed, t.status, t.run_id, t.objective,"
                " t.error, t.started_at, t.ended_at, r.final_metrics, r.status"
                " FROM sweep_trials t LEFT JOIN runs r ON r.id = t.run_id"
                " WHERE t.sweep_id = ? ORDER BY t.trial", (sid,)).fetchall()
        return self._assemble(row, trials)

    def _assemble(self, row: Mapping[str, Any], trials: list[Any]) -> dict[str, Any]:
        sid = row["id"]

        def load(text: Any, default: Any, column: str) -> Any:
            return loads(text, default, path=self.path, run_id=f"(sweep {sid})", column=column)

        config = load(row["config"], {}, "config")
        settings = load(row["settings"], {}, "settings")
        status = str(row["status"])
        if (status == "running" and row["hostname"] == hostname()
                and not pid_alive(row["pid"], row["pid_start"])):
            status = "interrupted"  # as read; the next --resume says so in the store too
        out_trials = []
        for (trial, point_index, point, seed, t_status, run_id, objective, error, started,
             ended, final, run_status) in trials:
            out_trials.append({
                "trial": int(trial), "point_index": int(point_index),
                "point": load(point, {}, "point"), "seed": int(seed), "status": str(t_status),
                "run_id": None if run_id is None else str(run_id),
                "objective": objective, "error": error, "started_at": started, "ended_at": ended,
                "final_metrics": load(final, {}, "final_metrics") if final is not None else {},
                "run_status": run_status,
            })
        best = load(row["best"], None, "best")
        sweep_table = config.get("sweep", {}) if isinstance(config, dict) else {}
        direction = str(row["direction"])
        return {
            "sweep_id": str(sid), "name": row["name"], "status": status, "error": row["error"],
            "method": row["method"], "direction": direction, "source": row["source"],
            "objective": {"metric": row["objective"], "mode": "max" if direction == "maximize" else "min"},
            "parameters": dict(sweep_table.get("space", {})) if isinstance(sweep_table, dict) else {},
            "config": config, "config_sha256": row["config_sha256"], "settings": settings,
            "best": best, "best_run": (best or {}).get("run_id"),
            "created_at": row["created_at"], "updated_at": row["updated_at"],
            "pid": row["pid"], "hostname": row["hostname"],
            "trials": out_trials,
            # The shape torchrack-ui's sweep page reads: one entry per trial that has a run.
            "runs": [{"run_id": t["run_id"], "point": t["point"], "status": t["status"],
                      "final_metrics": t["final_metrics"], "trial": t["trial"], "seed": t["seed"]}
                     for t in out_trials if t["run_id"] is not None],
        }

    def list(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Summary rows of the sweeps, newest first: id, name, status, method, objective,
        trials by status, created_at, best."""
        sql = ("SELECT s.id, s.name, s.status, s.method, s.objective, s.direction, s.created_at,"
               " s.best, s.pid, s.pid_start, s.hostname,"
               " (SELECT COUNT(*) FROM sweep_trials t WHERE t.sweep_id = s.id),"
               " (SELECT COUNT(*) FROM sweep_trials t WHERE t.sweep_id = s.id AND"
               "  t.status IN ('completed', 'pruned')),"
               " (SELECT COUNT(*) FROM sweep_trials t WHERE t.sweep_id = s.id AND t.status = 'failed')"
               " FROM sweeps s ORDER BY s.id DESC")
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (min(max(int(limit), 0), INT_MAX),)
        with self.db.reading("listing its sweeps") as conn:
            rows = conn.execute(sql, params).fetchall()
        out = []
        for sid, name, status, method, objective, direction, created, best, pid, start, host, \
                total, done, failed in rows:
            if status == "running" and host == hostname() and not pid_alive(pid, start):
                status = "interrupted"
            out.append({"sweep_id": str(sid), "name": name, "status": status, "method": method,
                        "objective": objective, "direction": direction, "created_at": created,
                        "trials": int(total), "done": int(done), "failed": int(failed),
                        "best": loads(best, None, path=self.path, run_id=f"(sweep {sid})",
                                      column="best")})
        return out
