"""The embedded run store: one SQLite file (standard library, WAL mode) plus a JSONL event log per run.

>>> store = RunStore(RunStore.default_path())
>>> run_id = store.create_run(record)            # "1", "2", ... in order of creation
>>> store.add_epoch(run_id, 0, {"loss": 0.4})
>>> store.finish_run(run_id, "completed", {"accuracy": 0.97}, None, {"train_seconds": 41.0})
>>> store.get("latest")["final_metrics"]
{'accuracy': 0.97}

Layout next to the database file ``<dir>/runs.sqlite``: ``<dir>/runs/<run_id>/`` holds the run's
checkpoints (written by the trainer) and ``events.jsonl`` (written by :meth:`RunStore.log_event`).

Concurrency and crash safety: the database is in WAL mode with a busy timeout, every write is one
``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``, so any number of processes can write
one store and a process killed at any point leaves it consistent; a write that fails (a full
disk, say) is rolled back whole. Each run keeps the pid, process start time and host of its
writer; opening a store for writing marks runs whose writer is gone as interrupted.

A store that this process may not write (a read-only file, folder or file system) is opened
read-only with ``read_only=True`` (or ``read_only=None``: read-only exactly when it cannot be
written); it is then never changed, and runs are not marked interrupted. Opening one for
writing raises :class:`StoreReadOnlyError`. The modules behind this one: :mod:`._connection`
(paths and opening), :mod:`._schema` (tables, migrations), :mod:`._records` (record assembly,
checks, rows), :mod:`._procs` (writer liveness), :mod:`._store_errors` (the errors).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchrack_runs._connection import Database, ensure_folder, inspect, writable
from torchrack_runs._events import EventLog, make_event
from torchrack_runs._procs import hostname, pid_alive, process_start
from torchrack_runs._records import (
    INT_MAX,
    RUN_ID,
    assemble,
    check_int,
    from_rows,
    loads,
    summary,
    to_json,
)
from torchrack_runs._records import mapping_json as _mapping_json
from torchrack_runs._redact import scrub
from torchrack_runs._schema import SCHEMA_VERSION
from torchrack_runs._store_errors import (
    STORE_ENV,
    InvalidRunRecordError,
    RunInUseError,
    RunNotFoundError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreNotFoundError,
    StoreReadOnlyError,
)
from torchrack_runs._store_errors import read_only as _read_only_error

if TYPE_CHECKING:
    from torchrack_runs._sweep_store import SweepTables

__all__ = [
    "BUSY_TIMEOUT", "END_STATUSES", "SCHEMA_VERSION", "STORE_ENV", "InvalidRunRecordError",
    "RunInUseError", "RunNotFoundError", "RunStore", "StoreError", "StoreFullError",
    "StoreLockedError", "StoreNotFoundError", "StoreReadOnlyError", "pid_alive",
]

#: Statuses a run can end with (:meth:`RunStore.finish_run`).
END_STATUSES = ("completed", "failed", "interrupted")

#: Seconds a writer waits for another process's write transaction before giving up.
BUSY_TIMEOUT = 60.0


def _short(text: str, limit: int = 40) -> str:
    """A reference as messages quote it: at most ``limit`` characters."""
    return text if len(text) <= limit else text[:limit] + "..."


class RunStore:
    """Runs, their epochs, evaluations and event logs, in one SQLite file.

    ``path`` is the database file; its folder is created when missing. With ``create=False``
    a missing file raises :class:`StoreNotFoundError` instead (commands that only read runs).
    ``read_only``: False (the default) to write, raising :class:`StoreReadOnlyError` when the
    store cannot be written; True to only read; None to write when possible, else only read.
    A writable store's schema is created or migrated on open, and runs left "running" by a
    process that no longer exists on this host are marked "interrupted". Any failure is a
    :class:`StoreError` naming the store. One instance may be shared by threads.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 timeout: float = BUSY_TIMEOUT, read_only: bool | None = False) -> None:
        self.path = Path(path).expanduser()
        self.timeout = timeout
        exists = inspect(self.path, create=create and read_only is not True)
        can_write, why = writable(self.path)
        auto = read_only is None
        if read_only is None:
            read_only = exists and not can_write
        if not read_only and not can_write:
            raise _read_only_error(self.path, why)
        #: Whether this instance only reads: nothing is written, no run is marked interrupted.
        self.read_only: bool = read_only
        if not read_only and not exists:
            ensure_folder(self.path)
        self._db = Database(self.path, read_only=read_only, timeout=timeout)
        self._lock = self._db.lock
        self._known: set[int] = set()
        self._secrets: dict[str, set[str]] = {}
        self._event_logs: dict[str, EventLog] = {}
        self._db.conn()
        if not self.read_only:
            try:
                self.mark_interrupted()
            except (StoreFullError, StoreReadOnlyError, StoreLockedError):
                if not auto:
                    raise  # a reader (auto) still reads; the next writer marks those runs

    # -- paths -----------------------------------------------------------------------------------

    @staticmethod
    def default_path() -> Path:
        """``$TORCHRACK_STORE`` when set, else ``./.torchrack/runs.sqlite``."""
        env = os.environ.get(STORE_ENV)
        return Path(env).expanduser() if env else Path(".torchrack") / "runs.sqlite"

    def run_dir(self, run_id: str) -> Path:
        """``<store dir>/runs/<run_id>/`` as an absolute path, created on demand (not when
        read-only): checkpoints and ``events.jsonl`` (absolute, so that a recorded checkpoint
        path works from any folder)."""
        rid = self._require(run_id)
        path = self.path.parent.resolve() / "runs" / str(rid)
        if not self.read_only:
            with self._db.translate("creating the run's folder", path):
                path.mkdir(parents=True, exist_ok=True)
        return path

    def events_path(self, run_id: str) -> Path:
        """The JSONL event log of a run (it may not exist yet)."""
        return self.run_dir(run_id) / "events.jsonl"

    # -- connection ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database connection (a later call reopens it)."""
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def integrity_check(self) -> list[str]:
        """SQLite's ``PRAGMA integrity_check``: ``["ok"]`` for a sound store."""
        with self._db.reading("checking its integrity") as conn:
            return [row[0] for row in conn.execute("PRAGMA integrity_check")]

    # -- references ------------------------------------------------------------------------------

    def latest_ids(self, n: int = 5) -> list[str]:
        """The ids of the ``n`` most recent runs, newest first."""
        with self._db.reading("listing its runs") as conn:
            rows = conn.execute("SELECT id FROM runs ORDER BY id DESC LIMIT ?",
                                (min(max(int(n), 0), INT_MAX),))
            return [str(r[0]) for r in rows]

    def _not_found(self, ref: str, why: str | None = None) -> RunNotFoundError:
        latest = self.latest_ids()
        known = (
            f"latest runs: {', '.join(latest)}" if latest else "the store has no runs yet"
        )
        message = why or f"no run {_short(ref)!r} in the store {self.path}"
        return RunNotFoundError(f"{message} ({known}; `torchrack runs list` shows them all)",
                                ref, self.path)

    def resolve(self, ref: str) -> str:
        """The run id that ``ref`` (an id, or ``latest``) names; :class:`RunNotFoundError` if none."""
        text = str(ref).strip()
        if text.lower() == "latest":
            latest = self.latest_ids(1)
            if not latest:
                raise self._not_found(text, f"no latest run: the store {self.path} is empty")
            return latest[0]
        if not RUN_ID.fullmatch(text):
            raise self._not_found(
                text, f"{_short(text)!r} is not a run reference in the store {self.path}: use a run "
                f"id (1, 2, ...) or 'latest'"
            )
        return str(self._require(text))

    def _require(self, run_id: str | int) -> int:
        text = str(run_id).strip()
        if not RUN_ID.fullmatch(text):
            raise self._not_found(
                text, f"{_short(text)!r} is not a run id (1, 2, ...) of the store {self.path}")
        digits = text.lstrip("0") or "0"
        if len(digits) > 19 or int(digits) > INT_MAX:  # no SQLite row has such an id
            raise self._not_found(text)
        rid = int(digits)
        if rid in self._known:
            return rid
        with self._db.reading("looking up a run") as conn:
            row = conn.execute("SELECT 1 FROM runs WHERE id = ?", (rid,)).fetchone()
        if row is None:
            raise self._not_found(text)
        self._known.add(rid)
        return rid

    # -- writing ---------------------------------------------------------------------------------

    def create_run(self, record: Mapping[str, Any], *, sensitive_paths: Iterable[str] = ()) -> str:
        """Store a new run (status "running") and return its id: "1", "2", ... in order.

        ``record`` is a run record without ``run_id``: name, config, config_sha256 (of the
        original config, computed by the caller), components, environment, seed and optionally
        timings and checkpoint. The config is redacted (sensitive keys and ``sensitive_paths``)
        before it is stored; the pid, its start time and the host are kept for crash detection.
        Raises :class:`InvalidRunRecordError` when the record breaks the run-record schema or
        holds an integer beyond SQLite's 64 bits (the message names the field).
        """
        now = time.time()
        full, extra, secrets = assemble(record, sensitive_paths, now)
        seed = check_int("seed", full["seed"])
        ckpt_epoch = full.get("checkpoint_epoch")
        if ckpt_epoch is not None:
            ckpt_epoch = check_int("checkpoint_epoch", ckpt_epoch, minimum=0)
        row = (
            full["name"], to_json("config", full["config"]), full["config_sha256"],
            to_json("components", full["components"]), to_json("environment", full["environment"]),
            seed, to_json("final_metrics", full["final_metrics"]), to_json("timings", full["timings"]),
            full["checkpoint"], ckpt_epoch, to_json("extra fields", extra),
        )
        pid = os.getpid()
        with self._db.transaction("recording a new run") as conn:
            cur = conn.execute(
                "INSERT INTO runs(name, status, error, config, config_sha256, components,"
                " environment, seed, final_metrics, timings, checkpoint, checkpoint_epoch, extra,"
                " pid, pid_start, hostname, created_at, updated_at)"
                " VALUES (?, 'running', NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, pid, process_start(pid), hostname(), now, now),
            )
            rid = cur.lastrowid
        assert rid is not None
        self._known.add(rid)
        run_id = str(rid)
        self._secrets[run_id] = secrets
        return run_id

    def register_secrets(self, run_id: str, values: Iterable[str]) -> None:
        """Strings scrubbed from this run's error message and event fields (see :func:`scrub`).

        :meth:`create_run` registers the sensitive values of the config itself; a resumed run in
        a new process registers them again with ``register_secrets(run_id, secret_values(cfg))``.
        """
        self._secrets.setdefault(str(run_id), set()).update(v for v in values if v)

    def reopen_run(self, run_id: str) -> None:
        """Continue a run (``--resume``): status "running" again, owned by this process.

        Raises :class:`RunInUseError` while another live process on this host still runs it: two
        writers of one run would interleave their epochs.
        """
        rid = self._require(run_id)
        pid, now, host = os.getpid(), time.time(), hostname()
        with self._db.transaction(f"reopening run {rid}") as conn:
            row = conn.execute(
                "SELECT timings, status, pid, pid_start, hostname FROM runs WHERE id = ?", (rid,)
            ).fetchone()
            timings, status, owner, owner_start, owner_host = row
            if (status == "running" and owner_host == host and owner != pid
                    and pid_alive(owner, owner_start)):
                raise RunInUseError(
                    f"run {rid} is still running in process {owner} on {host}; stop that process "
                    f"(or wait for it) before resuming the run",
                    str(rid), owner,
                )
            timings = loads(timings, {}, path=self.path, run_id=rid, column="timings")
            resumed = timings.get("resumed_at")
            timings["resumed_at"] = [*(resumed if isinstance(resumed, list) else []), now]
            timings["ended_at"] = None
            conn.execute(
                "UPDATE runs SET status = 'running', error = NULL, timings = ?, pid = ?,"
                " pid_start = ?, hostname = ?, updated_at = ? WHERE id = ?",
                (to_json("timings", timings), pid, process_start(pid), host, now, rid),
            )

    def add_epoch(self, run_id: str, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Record the metrics of one epoch; a redone epoch (after a resume) replaces the old row.
        Non-finite metrics are stored as null."""
        rid = self._require(run_id)
        epoch = check_int("epoch", epoch, minimum=0)
        text = _mapping_json(f"the metrics of epoch {epoch}", metrics)
        now = time.time()
        with self._db.transaction(f"recording epoch {epoch} of run {rid}") as conn:
            conn.execute(
                "INSERT INTO epochs(run_id, epoch, metrics, recorded_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(run_id, epoch) DO UPDATE SET metrics = excluded.metrics,"
                " recorded_at = excluded.recorded_at",
                (rid, epoch, text, now),
            )
            conn.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (now, rid))

    def add_evaluation(self, run_id: str, split: str, metrics: Mapping[str, Any],
                       checkpoint: str | None, source: str) -> None:
        """Append an evaluation on ``split`` (``source``: "train" during a run, "eval" after)."""
        rid = self._require(run_id)
        text = _mapping_json(f"the metrics of the evaluation on {split!s}", metrics)
        ckpt = None if checkpoint is None else str(checkpoint)
        now = time.time()
        with self._db.transaction(f"recording an evaluation of run {rid}") as conn:
            conn.execute(
                "INSERT INTO evaluations(run_id, split, metrics, checkpoint, source, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (rid, str(split), text, ckpt, str(source), now),
            )
            conn.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (now, rid))

    def set_checkpoint(self, run_id: str, path: str, epoch: int) -> None:
        """Point the run at its latest complete checkpoint, written after ``epoch``."""
        rid = self._require(run_id)
        epoch = check_int("checkpoint_epoch", epoch, minimum=0)
        with self._db.transaction(f"recording the checkpoint of run {rid}") as conn:
            conn.execute(
                "UPDATE runs SET checkpoint = ?, checkpoint_epoch = ?, updated_at = ? WHERE id = ?",
                (str(path), epoch, time.time(), rid),
            )

    def update_fields(self, run_id: str, fields: Mapping[str, Any] | None = None, *,
                      append: Mapping[str, Any] | None = None) -> None:
        """Set record fields kept outside the columns (``checkpoints``, ``stopped``, ``warnings``,
        ``measurements``, ...), or ``append`` one item to a list field, in one transaction.

        The record with the change must still follow the run-record schema (its fields are
        declared there), else :class:`InvalidRunRecordError` and nothing is written; registered
        secret values are scrubbed from the strings written.
        """
        from torchrack_runs._records import COLUMN_FIELDS

        rid = self._require(run_id)
        fields, append = dict(fields or {}), dict(append or {})
        clash = sorted((set(fields) | set(append)) & COLUMN_FIELDS)
        if clash:
            raise ValueError(f"{', '.join(clash)}: kept in their own columns; not updatable here")
        from torchrack_runs._records import validate as validate_record

        secrets = self._secrets.get(str(rid), ())
        columns = {k: v for k, v in self.get(str(rid)).items() if k in COLUMN_FIELDS}
        with self._db.transaction(f"updating the record of run {rid}") as conn:
            row = conn.execute("SELECT extra FROM runs WHERE id = ?", (rid,)).fetchone()
            extra = loads(row[0], {}, path=self.path, run_id=rid, column="extra")
            extra.update(fields)
            for key, item in append.items():
                current = extra.get(key)
                extra[key] = [*(current if isinstance(current, list) else []), item]
            text = to_json("extra fields", extra)
            if secrets:
                text = scrub(text, secrets)
            validate_record(columns, json.loads(text))  # raises before anything is written
            conn.execute("UPDATE runs SET extra = ?, updated_at = ? WHERE id = ?",
                         (text, time.time(), rid))

    def add_warning(self, run_id: str, message: str, *, source: str | None = None,
                    hook: str | None = None, count: int = 1) -> None:
        """Append a warning to the record's ``warnings``: a problem that did not fail the run
        (a tracker that raised, say), naming its ``source`` and the ``hook`` it happened in."""
        warning: dict[str, Any] = {"message": str(message), "time": time.time(), "count": int(count)}
        if source is not None:
            warning["source"] = str(source)
        if hook is not None:
            warning["hook"] = str(hook)
        self.update_fields(run_id, append={"warnings": warning})

    def finish_run(self, run_id: str, status: str, final_metrics: Mapping[str, Any],
                   error: str | None, timings: Mapping[str, Any]) -> None:
        """End a run with ``status`` (completed, failed, interrupted), its final metrics and error.

        ``timings`` are merged into the stored ones, except ``started_at``, which stays the
        time the run was created (a resumed run keeps its first start); ``ended_at`` defaults to
        now. Registered secret values are scrubbed from ``error``; non-finite metrics are null.
        """
        if status not in END_STATUSES:
            raise ValueError(f"a run ends with one of {', '.join(END_STATUSES)}, not {status!r}")
        rid = self._require(run_id)
        final = _mapping_json("final_metrics", final_metrics)
        if not isinstance(timings, Mapping):
            raise InvalidRunRecordError(f"the run record cannot be stored: timings: expected a "
                                        f"mapping, found {type(timings).__name__}", ["timings"])
        now = time.time()
        if error is not None:
            error = scrub(str(error), self._secrets.get(str(rid), ()))
        with self._db.transaction(f"finishing run {rid}") as conn:
            row = conn.execute("SELECT timings FROM runs WHERE id = ?", (rid,)).fetchone()
            merged = loads(row[0], {}, path=self.path, run_id=rid, column="timings")
            started = merged.get("started_at")
            merged.update(dict(timings))
            if started is not None:
                merged["started_at"] = started
            if merged.get("ended_at") is None:
                merged["ended_at"] = now
            conn.execute(
                "UPDATE runs SET status = ?, error = ?, final_metrics = ?, timings = ?,"
                " updated_at = ? WHERE id = ?",
                (status, error, final, to_json("timings", merged), now, rid),
            )

    def mark_interrupted(self) -> list[str]:
        """Mark "running" runs of this host whose process is gone as "interrupted"; return their
        ids. A read-only store is left as it is (nothing is marked)."""
        if self.read_only:
            return []
        host = hostname()
        with self._db.reading("looking for interrupted runs") as conn:
            rows = conn.execute(
                "SELECT id, pid, pid_start FROM runs WHERE status = 'running' AND hostname = ?",
                (host,),
            ).fetchall()
        dead = [(rid, pid, start) for rid, pid, start in rows if not pid_alive(pid, start)]
        marked = []
        for rid, pid, start in dead:
            with self._db.transaction(f"marking run {rid} interrupted") as conn:
                cur = conn.execute(
                    "UPDATE runs SET status = 'interrupted', error = ?, updated_at = ?"
                    " WHERE id = ? AND status = 'running' AND hostname = ? AND pid IS ?"
                    " AND pid_start IS ?",
                    (
                        f"the process that ran it (pid {pid} on {host}) ended without finishing "
                        f"the run; continue it with `torchrack run CONFIG --resume {rid}`",
                        time.time(), rid, host, pid, start,
                    ),
                )
                if cur.rowcount:
                    marked.append(str(rid))
        return marked

    # -- events ----------------------------------------------------------------------------------

    def _event_log(self, run_id: str) -> EventLog:
        rid = str(self._require(run_id))
        log = self._event_logs.get(rid)
        if log is None:
            log = self._event_logs[rid] = EventLog(self.run_dir(rid) / "events.jsonl")
        log.sealed = self._db.sealed
        return log

    def seal(self, values: Iterable[str]) -> None:
        """Secret strings to replace by ``***`` in every value this store writes from now on, in
        the database and in event logs: the last line of redaction, below any code (a plugin
        that patched :mod:`torchrack_runs._redact`, say) that could skip the first ones. The
        runner seals the secrets of a config before any plugin is imported."""
        merged = set(self._db.sealed) | {v for v in values if isinstance(v, str) and len(v) >= 4}
        self._db.sealed = tuple(sorted(merged, key=len, reverse=True))
        for log in self._event_logs.values():
            log.sealed = self._db.sealed

    def log_event(self, run_id: str, type: str, **fields: Any) -> dict[str, Any]:
        """Append one event to the run's ``events.jsonl`` and return it.

        ``type`` is one of the event schema's types; ``epoch``, ``step``, ``metrics`` and ``data``
        are the event's own fields and any other keyword goes into ``data``. Numeric metrics are
        kept as they are (non-finite ones move to ``data["other_metrics"]`` as null); ``data`` is
        redacted and registered secrets are scrubbed from strings. ``seq`` increases by one per
        event of the run, across processes. A failed append (a full disk) leaves no partial line.
        """
        if self.read_only:
            raise _read_only_error(self.path, "it was opened read-only")
        rid = str(self._require(run_id))
        event = make_event(rid, type, fields, self._secrets.get(rid, ()))
        with self._lock:
            log = self._event_log(rid)
            with self._db.translate(f"appending to the event log of run {rid}", log.path):
                log.append(event)
        return event

    def read_events(self, run_id: str) -> list[dict[str, Any]]:
        """The run's events in order; a line torn by a crash is skipped."""
        log = self._event_log(run_id)
        with self._db.translate("reading an event log", log.path):
            return log.read()

    # -- reading ---------------------------------------------------------------------------------

    def get(self, ref: str) -> dict[str, Any]:
        """The full run record of ``ref`` (an id or ``latest``), as the run-record schema describes.

        Raises :class:`RunNotFoundError` naming the reference, the store and its latest run ids.
        """
        rid = int(self.resolve(ref))
        with self._db.snapshot(f"reading run {rid}") as conn:
            cur = conn.execute("SELECT * FROM runs WHERE id = ?", (rid,))
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
            epochs = conn.execute(
                "SELECT epoch, metrics FROM epochs WHERE run_id = ? ORDER BY epoch", (rid,)
            ).fetchall()
            evals = conn.execute(
                "SELECT split, metrics, checkpoint, source, recorded_at FROM evaluations"
                " WHERE run_id = ? ORDER BY id", (rid,)
            ).fetchall()
        if row is None:
            raise self._not_found(str(ref))
        return from_rows(self.path, dict(zip(names, row, strict=True)), epochs, evals)

    def list_runs(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Summary rows, newest first: run_id, name, status, started_at, ended_at, epochs,
        final_metrics, config_sha256, checkpoint, error. ``limit``: at most that many (0 or more)."""
        sql = (
            "SELECT r.id, r.name, r.status, r.timings, r.final_metrics, r.config_sha256,"
            " r.checkpoint, r.error, (SELECT COUNT(*) FROM epochs e WHERE e.run_id = r.id)"
            " FROM runs r ORDER BY r.id DESC"
        )
        params: tuple[Any, ...] = ()
        if limit is not None:
            if int(limit) < 0:
                raise ValueError(f"limit is a number of runs, 0 or more, not {limit}")
            sql += " LIMIT ?"
            params = (min(int(limit), INT_MAX),)
        with self._db.reading("listing its runs") as conn:
            rows = conn.execute(sql, params).fetchall()
        return [summary(self.path, row) for row in rows]

    # -- sweeps (torchrack sweep; the tables and their rules: torchrack_runs._sweep_store) -------

    @property
    def sweeps(self) -> SweepTables:
        """The store's sweeps and their trials (``create``, ``get``, ``list``, ``reopen``...)."""
        from torchrack_runs._sweep_store import SweepTables

        return SweepTables(self._db, self.path)

    def records_sweeps(self) -> bool:
        """Whether the store has the sweeps tables: a store of schema version 1 opened read-only
        (not migrated) has runs only."""
        with self._db.reading("looking for its sweeps table") as conn:
            row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sweeps'").fetchone()
        return row is not None

    def get_sweep(self, ref: str) -> dict[str, Any]:
        """The sweep ``ref`` (an id or ``latest``) with its trials; :class:`SweepNotFoundError`
        (a ``LookupError``) when there is none."""
        if not self.records_sweeps():
            from torchrack_runs._sweep_store import SweepNotFoundError

            raise SweepNotFoundError(
                f"no sweep {ref!r} in {self.path}: the store is from before sweeps (schema version 1) "
                "and was opened read-only, so it records none; any writing command upgrades it "
                "(`torchrack runs list` where it is writable)", ref, Path(self.path))
        return self.sweeps.get(ref)

    def list_sweeps(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Summary rows of the recorded sweeps, newest first (none in a read-only version-1 store)."""
        if not self.records_sweeps():
            return []
        return self.sweeps.list(limit)
