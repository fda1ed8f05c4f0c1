"""What can go wrong with a run store, and how it is told: the store's exceptions, and
:func:`store_error`, which turns an SQLite or OS error into one of them.

Every message names the store file, says what was expected and what was found, and how to fix
it; the CLI prints it as one line and exits 1, never with a traceback.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from torchrack import TorchrackError

#: Environment variable that overrides the default store path.
STORE_ENV = "TORCHRACK_STORE"

#: How to point a command at another store, for the end of messages.
CHOOSE = f"--store PATH or {STORE_ENV}=PATH"


class StoreError(TorchrackError):
    """The run store cannot be used: not a torchrack store, too new, unreadable, read-only, full."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0])


class StoreNotFoundError(StoreError, FileNotFoundError):
    """A command that reads runs was pointed at a store file that does not exist."""


class StoreReadOnlyError(StoreError):
    """A store that this process may read but not write was asked to record something."""


class StoreFullError(StoreError):
    """The disk (or the user's quota) is full: the write was undone, the store is unchanged."""


class StoreLockedError(StoreError):
    """Another process held the store's write lock for longer than the busy timeout."""


class RecordNotFoundError(TorchrackError, LookupError):
    """No record of the store answers to ``ref`` (a run, a sweep); the message says which."""

    def __init__(self, message: str, ref: str, path: Path) -> None:
        super().__init__(message)
        self.ref = ref
        self.path = path

    def __str__(self) -> str:
        return str(self.args[0])


class RunNotFoundError(RecordNotFoundError):
    """No run answers to a reference; the message names the store and its latest run ids."""


class RunInUseError(TorchrackError):
    """A run that a live process on this host is still writing cannot be reopened."""

    def __init__(self, message: str, run_id: str, pid: int) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.pid = pid


class InvalidRunRecordError(TorchrackError, ValueError):
    """A record (or a value given to the store) does not conform to the run-record schema."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems

    def __str__(self) -> str:
        return str(self.args[0])


def disk_full(path: Path, target: Path | None = None) -> StoreFullError:
    """The message for ENOSPC / SQLITE_FULL while writing ``target`` (a file of store ``path``)."""
    return StoreFullError(
        f"the disk is full (no space left for {target or path}): the write was undone and the "
        f"run store is unchanged; free some space and try again, or use a store on another "
        f"disk with {CHOOSE}",
        path,
    )


def read_only(path: Path, why: str) -> StoreReadOnlyError:
    """The message for a store that cannot be written, ``why`` saying what is not writable."""
    return StoreReadOnlyError(
        f"the run store {path} is read-only ({why}): recording a run needs a store it can "
        f"write; make the file and its folder writable, or record into another store with "
        f"{CHOOSE} (`torchrack runs list|show|compare|plot` can still read this one)",
        path,
    )


def _sqlite_name(exc: sqlite3.Error) -> str:
    """``SQLITE_FULL``, ``SQLITE_READONLY_DBMOVED``... (Python 3.11+), else guessed from the text."""
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str) and name:
        return name
    text = str(exc).lower()
    for needle, guess in (
        ("disk is full", "SQLITE_FULL"),
        ("readonly", "SQLITE_READONLY"),
        ("read-only", "SQLITE_READONLY"),
        ("not a database", "SQLITE_NOTADB"),
        ("malformed", "SQLITE_CORRUPT"),
        ("locked", "SQLITE_BUSY"),
        ("busy", "SQLITE_BUSY"),
        ("unable to open", "SQLITE_CANTOPEN"),
        ("disk i/o error", "SQLITE_IOERR"),
    ):
        if needle in text:
            return guess
    return ""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says that the disk or the quota is full."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    if isinstance(exc, sqlite3.Error):
        return _sqlite_name(exc).startswith("SQLITE_FULL")
    return False


def store_error(exc: BaseException, path: Path, *, doing: str, target: Path | None = None,
                timeout: float | None = None) -> StoreError:
    """The :class:`StoreError` that explains ``exc``, raised while ``doing`` something with the
    store at ``path`` (``target``: the file concerned, when not the database itself)."""
    if isinstance(exc, StoreError):
        return exc
    where = target or path
    if is_disk_full(exc):
        return disk_full(path, target)
    if isinstance(exc, OSError):
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return read_only(path, f"{exc.strerror or exc}: {exc.filename or where}")
        return StoreError(
            f"the run store {path} cannot be used: {doing} failed ({exc.strerror or exc}: "
            f"{exc.filename or where}); check the path and its permissions, or choose another "
            f"store with {CHOOSE}",
            path,
        )
    if isinstance(exc, sqlite3.Error):
        name = _sqlite_name(exc)
        if name.startswith("SQLITE_READONLY"):
            return read_only(path, f"SQLite: {exc}")
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            waited = f" for {timeout:g}s" if timeout is not None else ""
            return StoreLockedError(
                f"the run store {path} is locked by another process: {doing} waited{waited} and "
                f"gave up ({exc}); wait for the other writer (or end it) and try again",
                path,
            )
        if name.startswith("SQLITE_NOTADB"):
            return StoreError(
                f"{path} is not a run store: expected an SQLite database written by torchrack, "
                f"found a file that SQLite cannot read ({exc}); move it away or choose another "
                f"store with {CHOOSE}",
                path,
            )
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_IOERR")):
            return StoreError(
                f"the run store {path} is damaged: expected a sound SQLite database, but {doing} "
                f"failed ({exc}); restore it from a backup, or move it away and let `torchrack "
                f"run` start a new one (or choose another with {CHOOSE})",
                path,
            )
        if name.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
            return StoreError(
                f"cannot open the run store {path} ({exc}): expected a readable SQLite file in "
                f"an accessible folder; check the path and its permissions, or choose another "
                f"store with {CHOOSE}",
                path,
            )
        return StoreError(
            f"the run store {path} cannot be used: {doing} failed ({type(exc).__name__}: {exc}); "
            f"expected a torchrack run store: move it away or choose another with {CHOOSE}",
            path,
        )
    return StoreError(
        f"the run store {path} cannot be used: {doing} failed ({type(exc).__name__}: {exc})", path
    )
