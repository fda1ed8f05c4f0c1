"""The store's tables and their migrations, and the checks that a database is a torchrack store.

The ``meta`` table keeps ``schema_version`` (a whole number, :data:`SCHEMA_VERSION` for this
torchrack) and ``written_by``. A store is migrated forward on open, one transaction for all the
steps; a store that is newer, foreign, damaged or read-only is never changed.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from torchrack_runs._store_errors import CHOOSE, StoreError

#: Version of the store's table layout, kept in the ``meta`` table; migrated forward on open.
#: 2 adds the sweeps (``torchrack sweep``): ``sweeps`` and ``sweep_trials``.
SCHEMA_VERSION = 2

#: The oldest version a read-only open reads without migrating it (later migrations only add
#: tables: a version-1 store has runs and no sweeps).
READ_ONLY_FROM = 1

#: The tables of a store of :data:`SCHEMA_VERSION` (besides ``meta``).
TABLES = ("runs", "epochs", "evaluations", "sweeps", "sweep_trials")

# Each entry migrates the store from version N-1 to N; statements run in one transaction.
MIGRATIONS: dict[int, tuple[str, ...]] = {
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
    # Sweeps: one row per sweep (its file, resolved config, settings, status, best point) and
    # one per trial (a point at a seed), pointing at the run that trained it.
    2: (
        """CREATE TABLE sweeps (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            method TEXT NOT NULL,
            objective TEXT NOT NULL,
            direction TEXT NOT NULL,
            source TEXT NOT NULL,
            config TEXT NOT NULL,
            config_sha256 TEXT NOT NULL,
            settings TEXT NOT NULL DEFAULT '{}',
            best TEXT,
            pid INTEGER,
            pid_start TEXT,
            hostname TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE sweep_trials (
            sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
            trial INTEGER NOT NULL,
            point_index INTEGER NOT NULL,
            point TEXT NOT NULL,
            seed INTEGER NOT NULL,
            status TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
            objective REAL,
            error TEXT,
            started_at REAL,
            ended_at REAL,
            PRIMARY KEY (sweep_id, trial)
        ) WITHOUT ROWID""",
        "CREATE INDEX sweep_trials_run ON sweep_trials(run_id)",
    ),
}

_WHOLE = re.compile(r"[0-9]{1,40}")  # longer: not a version, and int() of it may fail


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return {str(r[0]) for r in rows}


def schema_version(conn: sqlite3.Connection, path: Path) -> int:
    """The store's schema version: 0 for a database without one (new, or not a torchrack store).

    Raises :class:`StoreError` when ``meta.schema_version`` is not a whole number of 1 or more.
    """
    if "meta" not in _tables(conn):
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        return 0
    value = row[0]
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not _WHOLE.fullmatch(text) or int(text) < 1:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
        raise StoreError(
            f"the run store {path} is damaged or was not written by torchrack: expected a whole "
            f"number as its meta.schema_version (this torchrack writes {SCHEMA_VERSION}), found "
            f"{shown}; restore it from a backup, or move it away and choose another store with "
            f"{CHOOSE}",
            path,
        )
    return int(text)


def check(conn: sqlite3.Connection, path: Path, *, writable: bool) -> int:
    """Check that ``conn`` is a torchrack store this torchrack can use, before changing anything.

    Returns the schema version (0: a new, empty database, which a writable open initializes).
    Raises :class:`StoreError` for a store that is newer than this torchrack, a database of
    something else, a store with missing tables, or (read-only) one that would need migrating.
    """
    version = schema_version(conn, path)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the run store {path} has schema version {version}, newer than this torchrack "
            f"understands (expected {SCHEMA_VERSION} or older); upgrade torchrack to read it, or "
            f"choose another store with {CHOOSE}",
            path,
        )
    tables = _tables(conn)
    if version == 0:
        if tables - {"meta"}:
            raise StoreError(
                f"{path} is an SQLite database but not a torchrack run store: expected the tables "
                f"{', '.join(TABLES)} and meta, found {', '.join(sorted(tables)[:5])}; choose "
                f"another store with {CHOOSE}",
                path,
            )
        if not writable:
            raise StoreError(
                f"the run store {path} is empty (an SQLite file with no runs table) and read-only, "
                f"so it cannot be set up; `torchrack run --store {path}` sets it up where it is "
                f"writable, or choose another store with {CHOOSE}",
                path,
            )
        return 0
    if READ_ONLY_FROM <= version < SCHEMA_VERSION and not writable:
        # Read-only (the dashboard, a store another user owns): every migration since
        # READ_ONLY_FROM only adds tables, so the runs read as they are and sweeps are absent.
        return version
    if version < SCHEMA_VERSION and not writable:
        raise StoreError(
            f"the run store {path} has schema version {version}, older than this torchrack's "
            f"({SCHEMA_VERSION}), and it is read-only, so it cannot be upgraded; open it once "
            f"where it is writable (any `torchrack runs list --store {path}` upgrades it)",
            path,
        )
    if version == SCHEMA_VERSION:
        missing = [t for t in TABLES if t not in tables]
        if missing:
            raise StoreError(
                f"the run store {path} is damaged: expected the tables {', '.join(TABLES)}, but "
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing; restore it "
                f"from a backup, or move it away and choose another store with {CHOOSE}",
                path,
            )
    return version


def migrate(conn: sqlite3.Connection, path: Path, version: str) -> None:
    """Bring the store to :data:`SCHEMA_VERSION`; ``conn`` holds a write transaction
    (``BEGIN IMMEDIATE``), and ``version`` is the ``written_by`` text for ``meta``."""
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    current = check(conn, path, writable=True)  # again: another process may have migrated it
    for target in range(current + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[target]:
            conn.execute(statement)
    conn.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [("schema_version", str(SCHEMA_VERSION)), ("written_by", version)],
    )
