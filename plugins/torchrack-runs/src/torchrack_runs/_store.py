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
one store and a process killed at any point leaves it consistent. Each run keeps the pid, process
start time and host of its writer; opening a store marks runs whose writer is gone as interrupted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from torchrack import TorchrackError

from torchrack_runs._events import RECORD_SCHEMA_VERSION, EventLog, json_default, make_event
from torchrack_runs._redact import redact, scrub, secret_values

#: Version of the store's table layout, kept in the ``meta`` table; migrated forward on open.
SCHEMA_VERSION = 1

#: Environment variable that overrides the default store path.
STORE_ENV = "TORCHRACK_STORE"

#: Statuses a run can end with (:meth:`RunStore.finish_run`).
END_STATUSES = ("completed", "failed", "interrupted")

#: Seconds a writer waits for another process's write transaction before giving up.
BUSY_TIMEOUT = 60.0

# Each entry migrates the store from version N-1 to N; statements run in one transaction.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            config TEXT NOT NULL,
            config_sha256 TEXT NOT NULL,
            components TEXT NOT NULL,
            environment TEXT NOT NULL,
            seed INTEGER NOT NULL,
            final_metrics TEXT NOT NULL DEFAULT '{}',
            timings TEXT NOT NULL DEFAULT '{}',
            checkpoint TEXT,
            checkpoint_epoch INTEGER,
            extra TEXT NOT NULL DEFAULT '{}',
            pid INTEGER,
            pid_start TEXT,
            hostname TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX runs_status ON runs(status)",
        """CREATE TABLE epochs (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            epoch INTEGER NOT NULL,
            metrics TEXT NOT NULL,
            recorded_at REAL NOT NULL,
            PRIMARY KEY (run_id, epoch)
        ) WITHOUT ROWID""",
        """CREATE TABLE evaluations (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            split TEXT NOT NULL,
            metrics TEXT NOT NULL,
            checkpoint TEXT,
            source TEXT NOT NULL,
            recorded_at REAL NOT NULL
        )""",
        "CREATE INDEX evaluations_run ON evaluations(run_id)",
    ),
}

# Record fields kept in their own columns or tables; any other field goes to ``extra``.
_COLUMN_FIELDS = frozenset(
    {
        "schema_version", "run_id", "name", "status", "error", "config", "config_sha256",
        "components", "environment", "seed", "epochs", "final_metrics", "evaluations", "timings",
        "checkpoint", "checkpoint_epoch",
    }
)


class StoreError(TorchrackError):
    """The run store cannot be used: not a torchrack store, too new, unreadable."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


class StoreNotFoundError(StoreError, FileNotFoundError):
    """A command that reads runs was pointed at a store file that does not exist."""

    def __str__(self) -> str:
        return str(self.args[0])


class RunNotFoundError(TorchrackError, LookupError):
    """No run answers to a reference; the message names the store and its latest run ids."""

    def __init__(self, message: str, ref: str, path: Path) -> None:
        super().__init__(message)
        self.ref = ref
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0])


class RunInUseError(TorchrackError):
    """A run that a live process on this host is still writing cannot be reopened."""

    def __init__(self, message: str, run_id: str, pid: int) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.pid = pid


class InvalidRunRecordError(TorchrackError, ValueError):
    """A record given to :meth:`RunStore.create_run` does not conform to the run-record schema."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


def _dumps(obj: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace; NaN and infinities kept (Python reads them)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=json_default)


def _loads(text: str | None, default: Any = None) -> Any:
    return default if text is None else json.loads(text)


def _hostname() -> str:
    return socket.gethostname()


def _process_stat(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (state first), or None where there is no procfs entry."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return data[data.rindex(")") + 2 :].split()


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, Linux); None where unknown."""
    fields = _process_stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def pid_alive(pid: int | None, start: str | None = None) -> bool:
    """Whether process ``pid`` on this host still runs (and is the one that started at ``start``).

    A zombie counts as gone, and so does a live process whose start time differs from ``start``:
    its pid was reused. Where liveness cannot be checked safely (Windows), the answer is True.
    """
    if pid is None or pid <= 0:
        return False
    if os.name == "nt":  # pragma: no cover - os.kill(pid, 0) would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    except OSError:
        return False
    fields = _process_stat(pid)
    if fields is not None:
        if fields[0] in ("Z", "X"):
            return False
        if start is not None and len(fields) > 19 and fields[19] != start:
            return False
    return True


class RunStore:
    """Runs, their epochs, evaluations and event logs, in one SQLite file.

    ``path`` is the database file; its folder is created when missing. With ``create=False``
    a missing file raises :class:`StoreNotFoundError` instead (commands that only read runs).
    The schema is created or migrated on open, and runs left "running" by a process that no
    longer exists on this host are marked "interrupted". One instance may be shared by threads.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True,
                 timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path).expanduser()
        self.timeout = timeout
        if not create and not self.path.is_file():
            where = "is a folder, not a" if self.path.is_dir() else "no"
            raise StoreNotFoundError(
                f"{where} run store at {self.path}: runs are recorded by `torchrack run`; "
                f"point to an existing store with --store PATH or {STORE_ENV}=PATH",
                self.path,
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn_obj: sqlite3.Connection | None = None
        self._conn_pid: int | None = None
        self._known: set[int] = set()
        self._secrets: dict[str, set[str]] = {}
        self._event_logs: dict[str, EventLog] = {}
        self._conn()
        self.mark_interrupted()

    # -- paths -----------------------------------------------------------------------------------

    @staticmethod
    def default_path() -> Path:
        """``$TORCHRACK_STORE`` when set, else ``./.torchrack/runs.sqlite``."""
        env = os.environ.get(STORE_ENV)
        return Path(env).expanduser() if env else Path(".torchrack") / "runs.sqlite"

    def run_dir(self, run_id: str) -> Path:
        """``<store dir>/runs/<run_id>/`` as an absolute path, created on demand: checkpoints and
        ``events.jsonl`` (absolute, so that a recorded checkpoint path works from any folder)."""
        rid = self._require(run_id)
        path = self.path.parent.resolve() / "runs" / str(rid)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def events_path(self, run_id: str) -> Path:
        """The JSONL event log of a run (it may not exist yet)."""
        return self.run_dir(run_id) / "events.jsonl"

    # -- connection ------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        # A connection must not cross fork(): a child process opens its own.
        with self._lock:
            if self._conn_obj is not None and self._conn_pid == os.getpid():
                return self._conn_obj
            conn = sqlite3.connect(
                str(self.path), timeout=self.timeout, isolation_level=None,
                check_same_thread=False,
            )
            try:
                self._configure(conn)
                self._migrate(conn)
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise StoreError(
                    f"{self.path} is not a usable torchrack run store ({exc}); "
                    f"move it away or choose another with --store PATH or {STORE_ENV}=PATH",
                    self.path,
                ) from exc
            except BaseException:
                conn.close()
                raise
            self._conn_obj, self._conn_pid = conn, os.getpid()
            return conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        deadline = time.monotonic() + self.timeout
        while True:  # switching to WAL needs a moment alone with a brand-new file
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        if str(mode).lower() != "wal":
            raise sqlite3.DatabaseError(f"cannot enable WAL journal mode (got {mode!r})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if self._schema_version(conn) == SCHEMA_VERSION:
            return
        with self._transaction(conn):
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            version = self._schema_version(conn)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the run store {self.path} has schema version {version}, newer than this "
                    f"torchrack understands ({SCHEMA_VERSION}); upgrade torchrack to read it",
                    self.path,
                )
            if version == 0 and conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name != 'meta'"
            ).fetchone():
                raise StoreError(
                    f"{self.path} is an SQLite database but not a torchrack run store; "
                    f"choose another with --store PATH or {STORE_ENV}=PATH",
                    self.path,
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target]:
                    conn.execute(statement)
            from torchrack import __version__

            conn.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [("schema_version", str(SCHEMA_VERSION)), ("written_by", f"torchrack {__version__}")],
            )

    @staticmethod
    def _schema_version(conn: sqlite3.Connection) -> int:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone():
            return 0
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    @contextlib.contextmanager
    def _transaction(self, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``) so writers queue, never deadlock."""
        with self._lock:
            conn = conn or self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several queries see one consistent state."""
        with self._lock:
            conn = self._conn()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def close(self) -> None:
        """Close the database connection (a later call reopens it)."""
        with self._lock:
            if self._conn_obj is not None and self._conn_pid == os.getpid():
                self._conn_obj.close()
            self._conn_obj = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def integrity_check(self) -> list[str]:
        """SQLite's ``PRAGMA integrity_check``: ``["ok"]`` for a sound store."""
        with self._lock:
            return [row[0] for row in self._conn().execute("PRAGMA integrity_check")]

    # -- references ------------------------------------------------------------------------------

    def latest_ids(self, n: int = 5) -> list[str]:
        """The ids of the ``n`` most recent runs, newest first."""
        with self._lock:
            rows = self._conn().execute("SELECT id FROM runs ORDER BY id DESC LIMIT ?", (n,))
            return [str(r[0]) for r in rows]

    def _not_found(self, ref: str, why: str | None = None) -> RunNotFoundError:
        latest = self.latest_ids()
        known = (
            f"latest runs: {', '.join(latest)}" if latest else "the store has no runs yet"
        )
        message = why or f"no run {ref!r} in the store {self.path}"
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
        if not text.isdigit():
            raise self._not_found(
                text, f"{text!r} is not a run reference: use a run id (1, 2, ...) or 'latest'"
            )
        return str(self._require(text))

    def _require(self, run_id: str | int) -> int:
        text = str(run_id).strip()
        if not text.isdigit():
            raise self._not_found(text, f"{text!r} is not a run id (1, 2, ...)")
        rid = int(text)
        if rid in self._known:
            return rid
        with self._lock:
            row = self._conn().execute("SELECT 1 FROM runs WHERE id = ?", (rid,)).fetchone()
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
        Raises :class:`InvalidRunRecordError` when the record breaks the run-record schema.
        """
        paths = tuple(sensitive_paths)
        config = dict(record.get("config") or {})
        secrets = secret_values(config, paths=paths)
        now = time.time()
        timings = dict(record.get("timings") or {})
        timings.setdefault("started_at", now)
        timings.setdefault("ended_at", None)
        full: dict[str, Any] = {
            "schema_version": RECORD_SCHEMA_VERSION,
            "run_id": "0",
            "name": str(record.get("name") or ""),
            "status": "running",
            "error": None,
            "config": redact(config, paths=paths),
            "config_sha256": record.get("config_sha256")
            or hashlib.sha256(_dumps(config).encode()).hexdigest(),
            "components": list(record.get("components") or []),
            "environment": dict(record.get("environment") or {}),
            "seed": record.get("seed"),
            "epochs": [],
            "final_metrics": dict(record.get("final_metrics") or {}),
            "evaluations": [],
            "timings": timings,
            "checkpoint": record.get("checkpoint"),
        }
        extra = {k: v for k, v in record.items() if k not in _COLUMN_FIELDS}
        self._validate({**full, **json.loads(_dumps(extra))})
        pid = os.getpid()
        with self._transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs(name, status, error, config, config_sha256, components,"
                " environment, seed, final_metrics, timings, checkpoint, checkpoint_epoch, extra,"
                " pid, pid_start, hostname, created_at, updated_at)"
                " VALUES (?, 'running', NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    full["name"], _dumps(full["config"]), full["config_sha256"],
                    _dumps(full["components"]), _dumps(full["environment"]), int(full["seed"]),
                    _dumps(full["final_metrics"]), _dumps(timings), full["checkpoint"],
                    record.get("checkpoint_epoch"), _dumps(extra), pid, _process_start(pid),
                    _hostname(), now, now,
                ),
            )
            rid = cur.lastrowid
        assert rid is not None
        self._known.add(rid)
        run_id = str(rid)
        self._secrets[run_id] = secrets
        return run_id

    @staticmethod
    def _validate(record: dict[str, Any]) -> None:
        from torchrack.contracts import validate

        problems = [str(p) for p in validate("run-record", record)]
        if problems:
            raise InvalidRunRecordError(
                "the run record does not conform to the run-record schema: " + "; ".join(problems),
                problems,
            )

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
        pid, now, host = os.getpid(), time.time(), _hostname()
        with self._transaction() as conn:
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
            timings = _loads(timings, {})
            timings["resumed_at"] = [*timings.get("resumed_at", []), now]
            timings["ended_at"] = None
            conn.execute(
                "UPDATE runs SET status = 'running', error = NULL, timings = ?, pid = ?,"
                " pid_start = ?, hostname = ?, updated_at = ? WHERE id = ?",
                (_dumps(timings), pid, _process_start(pid), _hostname(), now, rid),
            )

    def add_epoch(self, run_id: str, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Record the metrics of one epoch; a redone epoch (after a resume) replaces the old row."""
        rid = self._require(run_id)
        now = time.time()
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO epochs(run_id, epoch, metrics, recorded_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(run_id, epoch) DO UPDATE SET metrics = excluded.metrics,"
                " recorded_at = excluded.recorded_at",
                (rid, int(epoch), _dumps(dict(metrics)), now),
            )
            conn.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (now, rid))

    def add_evaluation(self, run_id: str, split: str, metrics: Mapping[str, Any],
                       checkpoint: str | None, source: str) -> None:
        """Append an evaluation on ``split`` (``source``: "train" during a run, "eval" after)."""
        rid = self._require(run_id)
        now = time.time()
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO evaluations(run_id, split, metrics, checkpoint, source, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (rid, str(split), _dumps(dict(metrics)), checkpoint, str(source), now),
            )
            conn.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (now, rid))

    def set_checkpoint(self, run_id: str, path: str, epoch: int) -> None:
        """Point the run at its latest complete checkpoint, written after ``epoch``."""
        rid = self._require(run_id)
        with self._transaction() as conn:
            conn.execute(
                "UPDATE runs SET checkpoint = ?, checkpoint_epoch = ?, updated_at = ? WHERE id = ?",
                (str(path), int(epoch), time.time(), rid),
            )

    def finish_run(self, run_id: str, status: str, final_metrics: Mapping[str, Any],
                   error: str | None, timings: Mapping[str, Any]) -> None:
        """End a run with ``status`` (completed, failed, interrupted), its final metrics and error.

        ``timings`` are merged into the stored ones, except ``started_at``, which stays the
        time the run was created (a resumed run keeps its first start); ``ended_at`` defaults to
        now. Registered secret values are scrubbed from ``error``.
        """
        if status not in END_STATUSES:
            raise ValueError(f"a run ends with one of {', '.join(END_STATUSES)}, not {status!r}")
        rid = self._require(run_id)
        now = time.time()
        if error is not None:
            error = scrub(str(error), self._secrets.get(str(rid), ()))
        with self._transaction() as conn:
            row = conn.execute("SELECT timings FROM runs WHERE id = ?", (rid,)).fetchone()
            merged = _loads(row[0], {})
            started = merged.get("started_at")
            merged.update(dict(timings))
            if started is not None:
                merged["started_at"] = started
            if merged.get("ended_at") is None:
                merged["ended_at"] = now
            conn.execute(
                "UPDATE runs SET status = ?, error = ?, final_metrics = ?, timings = ?,"
                " updated_at = ? WHERE id = ?",
                (status, error, _dumps(dict(final_metrics)), _dumps(merged), now, rid),
            )

    def mark_interrupted(self) -> list[str]:
        """Mark "running" runs of this host whose process is gone as "interrupted"; return their ids."""
        host = _hostname()
        with self._lock:
            rows = self._conn().execute(
                "SELECT id, pid, pid_start FROM runs WHERE status = 'running' AND hostname = ?",
                (host,),
            ).fetchall()
        dead = [(rid, pid, start) for rid, pid, start in rows if not pid_alive(pid, start)]
        marked = []
        for rid, pid, start in dead:
            with self._transaction() as conn:
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
        return log

    def log_event(self, run_id: str, type: str, **fields: Any) -> dict[str, Any]:
        """Append one event to the run's ``events.jsonl`` and return it.

        ``type`` is one of the event schema's types; ``epoch``, ``step``, ``metrics`` and ``data``
        are the event's own fields and any other keyword goes into ``data``. Numeric metrics are
        kept as they are; ``data`` is redacted and registered secrets are scrubbed from strings.
        ``seq`` increases by one per event of the run, across processes.
        """
        rid = str(self._require(run_id))
        event = make_event(rid, type, fields, self._secrets.get(rid, ()))
        with self._lock:
            self._event_log(rid).append(event)
        return event

    def read_events(self, run_id: str) -> list[dict[str, Any]]:
        """The run's events in order; a line torn by a crash is skipped."""
        return self._event_log(run_id).read()

    # -- reading ---------------------------------------------------------------------------------

    def get(self, ref: str) -> dict[str, Any]:
        """The full run record of ``ref`` (an id or ``latest``), as the run-record schema describes.

        Raises :class:`RunNotFoundError` naming the reference, the store and its latest run ids.
        """
        rid = int(self.resolve(ref))
        with self._snapshot() as conn:
            conn.row_factory = sqlite3.Row
            try:
                row = conn.execute("SELECT * FROM runs WHERE id = ?", (rid,)).fetchone()
                epochs = conn.execute(
                    "SELECT epoch, metrics FROM epochs WHERE run_id = ? ORDER BY epoch", (rid,)
                ).fetchall()
                evals = conn.execute(
                    "SELECT split, metrics, checkpoint, source, recorded_at FROM evaluations"
                    " WHERE run_id = ? ORDER BY id", (rid,)
                ).fetchall()
            finally:
                conn.row_factory = None
        if row is None:
            raise self._not_found(str(ref))
        record: dict[str, Any] = {
            "schema_version": RECORD_SCHEMA_VERSION,
            "run_id": str(rid),
            "name": row["name"],
            "status": row["status"],
            "error": row["error"],
            "config": _loads(row["config"], {}),
            "config_sha256": row["config_sha256"],
            "components": _loads(row["components"], []),
            "environment": _loads(row["environment"], {}),
            "seed": row["seed"],
            "epochs": [{"epoch": e["epoch"], "metrics": _loads(e["metrics"], {})} for e in epochs],
            "final_metrics": _loads(row["final_metrics"], {}),
            "evaluations": [
                {"split": e["split"], "metrics": _loads(e["metrics"], {}),
                 "checkpoint": e["checkpoint"], "source": e["source"], "time": e["recorded_at"]}
                for e in evals
            ],
            "timings": _loads(row["timings"], {}),
            "checkpoint": row["checkpoint"],
            "checkpoint_epoch": row["checkpoint_epoch"],
        }
        for key, value in _loads(row["extra"], {}).items():
            record.setdefault(key, value)
        return record

    def list_runs(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Summary rows, newest first: run_id, name, status, started_at, ended_at, epochs,
        final_metrics, config_sha256, checkpoint, error."""
        sql = (
            "SELECT r.id, r.name, r.status, r.timings, r.final_metrics, r.config_sha256,"
            " r.checkpoint, r.error, (SELECT COUNT(*) FROM epochs e WHERE e.run_id = r.id)"
            " FROM runs r ORDER BY r.id DESC"
        )
        params: tuple[Any, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (int(limit),)
        with self._lock:
            rows = self._conn().execute(sql, params).fetchall()
        out = []
        for rid, name, status, timings, final, sha, ckpt, error, n_epochs in rows:
            t = _loads(timings, {})
            out.append({
                "run_id": str(rid), "name": name, "status": status,
                "started_at": t.get("started_at"), "ended_at": t.get("ended_at"),
                "epochs": n_epochs, "final_metrics": _loads(final, {}), "config_sha256": sha,
                "checkpoint": ckpt, "error": error,
            })
        return out
