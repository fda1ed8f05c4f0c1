"""Opening a store file: what the path is, whether it may be written, and the SQLite connection.

Before SQLite touches anything, :func:`inspect` checks the path: a folder, a path under a regular
file, a file that is not SQLite are refused with a message that says so, and nothing is created.
:func:`writable` decides whether this process may write the store: the file (when it exists) and
its folder must be writable, as :func:`os.access` says (it also sees read-only file systems).

A writable store is opened as usual and put in WAL mode. A read-only one is opened with the URI
``file:...?mode=ro``, and also ``immutable=1`` when its file or folder is not writable and no WAL
holds unread writes: a WAL-mode database then needs neither ``-wal`` nor ``-shm`` files, which
could not be created in a read-only folder (and would be left behind next to a read-only file). The schema is checked (:func:`torchrack_runs._schema.check`) before the journal
mode is changed, so a database of something else is refused unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torchrack_runs import _schema
from torchrack_runs._store_errors import (
    CHOOSE,
    StoreError,
    StoreNotFoundError,
    read_only,
    store_error,
)

#: The first 16 bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"


def _existing_ancestor(path: Path) -> Path:
    for parent in path.parents:
        if os.path.lexists(parent):
            return parent
    return Path(path.anchor or ".")


def inspect(path: Path, *, create: bool) -> bool:
    """Check that ``path`` can be a store file; return whether the file exists.

    Raises :class:`StoreError` for a folder, a path under a regular file, a file that is not an
    SQLite database or cannot be read, and :class:`StoreNotFoundError` for a missing file when
    ``create`` is false. Creates and changes nothing.
    """
    try:
        if path.is_dir():
            inside = path / "runs.sqlite"
            hint = (f"did you mean {inside}?" if inside.is_file()
                    else f"give --store the database file, e.g. {inside}")
            raise StoreError(
                f"{path} is a folder, not a run store: expected the store's SQLite file; {hint}",
                path,
            )
        blocker = _existing_ancestor(path)
        if not blocker.is_dir():
            raise StoreError(
                f"{path} cannot be a run store: {blocker} is a file, not a folder, so nothing can "
                f"be stored under it; choose a store path in a folder with {CHOOSE}",
                path,
            )
        if not path.exists():
            if not create:
                raise StoreNotFoundError(
                    f"no run store at {path}: runs are recorded by `torchrack run`; point to an "
                    f"existing store with {CHOOSE}",
                    path,
                )
            return False
        if not path.is_file():
            raise StoreError(
                f"{path} is not a run store: expected a regular SQLite file, found a special file "
                f"(a device, pipe or socket); choose another store with {CHOOSE}",
                path,
            )
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except StoreError:
        raise
    except OSError as exc:
        raise store_error(exc, path, doing="reading the store file") from None
    if head and head != SQLITE_HEADER:
        raise StoreError(
            f"{path} is not a run store: expected an SQLite database written by torchrack, found a "
            f"file that is not SQLite at all; move it away or choose another store with {CHOOSE}",
            path,
        )
    return True


def writable(path: Path) -> tuple[bool, str]:
    """Whether this process may write the store at ``path`` (and if not, what is read-only).

    Root may write any file whatever its mode (but not on a read-only file system), which
    :func:`os.access` knows; tests that run as root therefore replace ``os.access``.
    """
    folder = path.parent if os.path.lexists(path.parent) else _existing_ancestor(path)
    if os.path.lexists(path) and not os.access(path, os.W_OK):
        return False, f"the file {path} is not writable"
    if not os.access(folder, os.W_OK | os.X_OK):
        return False, f"its folder {folder} is not writable"
    return True, ""


def _ro_uris(path: Path) -> list[str]:
    """The URIs to try for a read-only connection, best first.

    ``immutable=1`` where the store cannot be written at all (its file or its folder): SQLite
    then needs no ``-shm`` file and leaves no ``-wal``/``-shm`` behind, and no writer can be
    changing the file meanwhile. A non-empty WAL holds writes not yet checkpointed (a writer was
    killed): those are read through ``mode=ro`` when SQLite can, else the file alone is read.
    """
    uri = path.resolve().as_uri()
    if writable(path)[0]:
        return [f"{uri}?mode=ro"]
    wal = Path(f"{path}-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        return [f"{uri}?mode=ro", f"{uri}?mode=ro&immutable=1"]
    return [f"{uri}?mode=ro&immutable=1"]


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    deadline = time.monotonic() + timeout
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
        raise sqlite3.OperationalError(f"cannot enable WAL journal mode (got {mode!r})")


def connect(path: Path, *, read_only_mode: bool, timeout: float) -> tuple[sqlite3.Connection, int]:
    """A configured connection to the store file ``path`` and its schema version (0: new).

    ``read_only_mode``: open with ``mode=ro`` (and ``immutable=1`` where needed) and never
    write; else open for writing, check the schema, then switch to WAL. The schema is not
    migrated here. Raises :class:`StoreError` naming the store for anything that goes wrong.
    """
    candidates = _ro_uris(path) if read_only_mode else [str(path)]
    last: BaseException | None = None
    for i, target in enumerate(candidates):
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(target, timeout=timeout, isolation_level=None,
                                   check_same_thread=False, uri=read_only_mode)
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            version = _schema.check(conn, path, writable=not read_only_mode)
            if read_only_mode:
                conn.execute("PRAGMA query_only = ON")
            else:
                _enable_wal(conn, timeout)
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA foreign_keys = ON")
            return conn, version
        except StoreError:
            if conn is not None:
                conn.close()
            raise
        except (sqlite3.Error, OSError) as exc:
            if conn is not None:
                conn.close()
            last = exc
            if i + 1 < len(candidates) and isinstance(exc, sqlite3.OperationalError):
                continue
            break
        except BaseException:
            if conn is not None:
                conn.close()
            raise
    assert last is not None
    doing = "opening it read-only" if read_only_mode else "opening it"
    raise store_error(last, path, doing=doing, timeout=timeout) from last


def ensure_folder(path: Path) -> None:
    """Create the store's folder (and its parents) for a new store file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # read-only, full, or a file in the way (a race with inspect())
        raise store_error(exc, path, doing=f"creating its folder {path.parent}",
                          target=path.parent) from None


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite may have rolled back already (SQLITE_FULL, SQLITE_BUSY...): ROLLBACK would then
    # fail with "no transaction is active" and hide the error that matters.
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


# Bound when this module is imported (before any plugin code runs in a torchrack process), so
# that a plugin that patches torchrack's redaction cannot unseal what is written here.
_str = str
_replace = str.replace
_json_text = json.dumps


def seal_text(text: str, sealed: tuple[str, ...]) -> str:
    """``text`` with every sealed secret (raw, and as it appears inside JSON) replaced by ***."""
    for secret in sealed:
        text = _replace(text, secret, "***")
        escaped = _json_text(secret)[1:-1]
        if escaped != secret:
            text = _replace(text, escaped, "***")
    return text


class _SealedConnection:
    """A connection whose every string parameter is sealed before SQLite sees it."""

    def __init__(self, conn: sqlite3.Connection, sealed: tuple[str, ...]) -> None:
        self._conn = conn
        self._sealed = sealed

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        if isinstance(params, dict):
            params = {k: seal_text(v, self._sealed) if isinstance(v, _str) else v for k, v in params.items()}
        else:
            params = tuple(seal_text(v, self._sealed) if isinstance(v, _str) else v for v in params)
        return self._conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class Database:
    """The connection to one store file, opened on first use (and again after ``fork()``), with
    write transactions, read snapshots, and every SQLite or OS error turned into a
    :class:`StoreError` naming the store. A writable store is migrated when it is opened.

    ``sealed`` holds secret strings that are replaced by ``***`` in every value written, whatever
    the code above did (the store's last line of redaction; see :meth:`RunStore.seal`)."""

    def __init__(self, path: Path, *, read_only: bool, timeout: float) -> None:
        self.path = path
        self.read_only = read_only
        self.timeout = timeout
        self.lock = threading.RLock()
        self.sealed: tuple[str, ...] = ()
        self._conn_obj: sqlite3.Connection | None = None
        self._conn_pid: int | None = None

    @contextlib.contextmanager
    def translate(self, doing: str, target: Path | None = None) -> Iterator[None]:
        """SQLite and OS errors raised inside become a :class:`StoreError` naming the store."""
        try:
            yield
        except StoreError:
            raise
        except (sqlite3.Error, OSError) as exc:
            raise store_error(exc, self.path, doing=doing, target=target,
                              timeout=self.timeout) from exc

    def conn(self) -> sqlite3.Connection:
        """The open connection of this process."""
        with self.lock:
            if self._conn_obj is not None and self._conn_pid == os.getpid():
                return self._conn_obj
            conn, version = connect(self.path, read_only_mode=self.read_only, timeout=self.timeout)
            try:
                if version < _schema.SCHEMA_VERSION and not self.read_only:
                    from torchrack import __version__

                    with self.transaction("setting up the store's tables", conn) as c:
                        _schema.migrate(c, self.path, f"torchrack {__version__}")
            except BaseException:
                conn.close()
                raise
            self._conn_obj, self._conn_pid = conn, os.getpid()
            return conn

    @contextlib.contextmanager
    def transaction(self, doing: str,
                    conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``) so writers queue, never
        deadlock; rolled back whole when anything in it fails (a full disk, say)."""
        if self.read_only:
            raise read_only(self.path, "it was opened read-only")
        with self.lock, self.translate(doing):
            conn = conn or self.conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SealedConnection(conn, self.sealed) if self.sealed else conn  # type: ignore[misc]
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

    @contextlib.contextmanager
    def reading(self, doing: str) -> Iterator[sqlite3.Connection]:
        """The connection, for reads outside a snapshot."""
        with self.lock, self.translate(doing):
            yield self.conn()

    @contextlib.contextmanager
    def snapshot(self, doing: str) -> Iterator[sqlite3.Connection]:
        """A read transaction: several queries see one consistent state."""
        with self.reading(doing) as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                _rollback(conn)  # nothing was written: ending it is all

    def close(self) -> None:
        """Close the connection (a later use reopens it)."""
        with self.lock:
            if self._conn_obj is not None and self._conn_pid == os.getpid():
                with contextlib.suppress(sqlite3.Error):
                    self._conn_obj.close()
            self._conn_obj = None
