"""Store paths and files: folders, paths under files, foreign files, bad schema versions, a full
disk and read-only stores each give one clear StoreError (exit 1 from the CLI), and nothing is
created, changed or left half-written."""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torchrack_runs._store as store_mod
from torchrack.cli import main
from torchrack_runs._schema import SCHEMA_VERSION
from torchrack_runs._store import RunStore, StoreError, StoreNotFoundError

from ._store_helpers import failing_connections, make_record

ACTIONS = (["list"], ["show", "latest"], ["compare", "1", "1"], ["list", "--json"])


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_clean_failure(code: int, err: str, *fragments: str) -> None:
    assert code == 1, err
    assert "internal error" not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err  # one message
    for fragment in fragments:
        assert fragment in err, err


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its bytes: what a read must not change.

    SQLite's ``-shm`` index and an empty ``-wal`` hold no data: a ``mode=ro`` reader of a
    writable store may leave them (tests of read-only folders check file names as well).
    """
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith("-shm")
            and not (p.name.endswith("-wal") and p.stat().st_size == 0)}


def _store_with_runs(path: Path, n: int = 2) -> RunStore:
    store = RunStore(path)
    for i in range(n):
        rid = store.create_run(make_record(f"r{i}"))
        store.add_epoch(rid, 0, {"loss": 1.0})
        store.finish_run(rid, "completed", {"accuracy": 0.5}, None, {})
    return store


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- paths -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("create", [True, False])
def test_a_folder_is_not_a_store(tmp_path: Path, create: bool) -> None:
    folder = tmp_path / "stores"
    folder.mkdir()
    with pytest.raises(StoreError, match="is a folder, not a run store") as exc:
        RunStore(folder, create=create)
    assert str(folder / "runs.sqlite") in str(exc.value)  # the fix: the file inside
    assert list(folder.iterdir()) == []


def test_a_folder_with_a_store_inside_suggests_it(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _store_with_runs(tmp_path / "runs.sqlite").close()
    for action in ACTIONS:
        code, out, err = _cli(capsys, "runs", *action, "--store", str(tmp_path))
        _assert_clean_failure(code, err, f"{tmp_path} is a folder",
                              f"did you mean {tmp_path / 'runs.sqlite'}?")
        assert out == ""


@pytest.mark.parametrize("below", ["x.sqlite", "sub/x.sqlite", "a/b/c.sqlite"])
@pytest.mark.parametrize("create", [True, False])
def test_a_path_under_a_regular_file(tmp_path: Path, below: str, create: bool) -> None:
    blocker = tmp_path / "passwd"
    blocker.write_text("root:x:0:0\n")
    with pytest.raises(StoreError) as exc:
        RunStore(blocker / below, create=create)
    message = str(exc.value)
    assert not isinstance(exc.value, StoreNotFoundError) or not create
    assert f"{blocker} is a file, not a folder" in message and str(blocker / below) in message
    assert blocker.read_text() == "root:x:0:0\n" and sorted(tmp_path.iterdir()) == [blocker]


@pytest.mark.skipif(not Path("/etc/passwd").is_file(), reason="needs /etc/passwd")
def test_etc_passwd_x_sqlite(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "runs", "list", "--store", "/etc/passwd/x.sqlite")
    _assert_clean_failure(code, err, "/etc/passwd is a file, not a folder")
    with pytest.raises(StoreError, match="/etc/passwd is a file, not a folder"):
        RunStore("/etc/passwd/x.sqlite")  # what `torchrack run --store` opens


@pytest.mark.parametrize(
    "content",
    [b"this is not sqlite at all\n" * 100, b"\x00" * 4096, b"PK\x03\x04" + b"\x00" * 200,
     b"SQLite format 3"],  # 15 bytes: the header without its NUL
    ids=["text", "zeros", "zip", "short-header"],
)
@pytest.mark.parametrize("create", [True, False])
def test_a_file_that_is_not_sqlite_is_refused_unchanged(tmp_path: Path, content: bytes,
                                                        create: bool) -> None:
    path = tmp_path / "runs.sqlite"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="is not a run store: expected an SQLite database"):
        RunStore(path, create=create)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.sqlite"]  # no -wal, no -shm


def test_a_damaged_sqlite_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "runs.sqlite"
    _store_with_runs(path).close()
    data = bytearray(path.read_bytes())
    data[16:4096] = b"\xff" * (4096 - 16)  # keep the header, destroy the first page
    path.write_bytes(bytes(data))
    for action in ACTIONS:
        code, _, err = _cli(capsys, "runs", *action, "--store", str(path))
        _assert_clean_failure(code, err, str(path))
    with pytest.raises(StoreError, match=str(path)):
        RunStore(path)


def test_a_foreign_sqlite_database_is_left_exactly_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "people.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.execute("INSERT INTO people VALUES ('ada')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a torchrack run store: expected the tables"):
        RunStore(path)
    assert path.read_bytes() == before  # not switched to WAL, no meta table
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["people"]
    conn.close()


def _set_schema_version(path: Path, value: object) -> None:
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (value,))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("value", ["abc", "", " ", "1.5", "1.0", "-1", "0", "0x1", "١", "1e3",
                                   b"\x01", "9" * 5000])
def test_a_schema_version_that_is_not_a_number(tmp_path: Path, value: object,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "runs.sqlite"
    _store_with_runs(path).close()
    _set_schema_version(path, value)
    before = _tree(tmp_path)
    code, _, err = _cli(capsys, "runs", "list", "--store", str(path))
    _assert_clean_failure(code, err, str(path), "meta.schema_version", "found")
    for read_only in (False, None, True):
        with pytest.raises(StoreError, match="expected a whole number as its meta.schema_version"):
            RunStore(path, read_only=read_only)
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("value", [str(SCHEMA_VERSION + 1), "999", "123456789012345678901234567890"])
def test_a_newer_schema_version_is_refused_unchanged(tmp_path: Path, value: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "runs.sqlite"
    _store_with_runs(path).close()
    _set_schema_version(path, value)
    before = _tree(tmp_path)
    with pytest.raises(StoreError, match="newer than this torchrack understands"):
        RunStore(path)
    code, _, err = _cli(capsys, "runs", "show", "1", "--store", str(path))
    _assert_clean_failure(code, err, str(path), "upgrade torchrack")
    assert _tree(tmp_path) == before


def test_a_store_with_a_missing_table_is_damaged(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "runs.sqlite"
    _store_with_runs(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE epochs")
    conn.commit()
    conn.close()
    code, _, err = _cli(capsys, "runs", "show", "1", "--store", str(path))
    _assert_clean_failure(code, err, f"the run store {path} is damaged", "epochs is missing")


def test_damaged_json_in_a_row_names_the_run_and_column(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "runs.sqlite"
    _store_with_runs(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE runs SET timings = '{not json' WHERE id = 1")
    conn.execute("UPDATE runs SET final_metrics = '[1, 2]' WHERE id = 2")
    conn.commit()
    conn.close()
    code, _, err = _cli(capsys, "runs", "show", "1", "--store", str(path))
    _assert_clean_failure(code, err, str(path), "run 1's timings", "not JSON")
    code, _, err = _cli(capsys, "runs", "list", "--store", str(path))
    _assert_clean_failure(code, err, "run 2's final_metrics should be a JSON dict")


# -- a full disk ---------------------------------------------------------------------------------

DISK_FULL: list[Callable[[], BaseException]] = [
    lambda: sqlite3.OperationalError("database or disk is full"),
    lambda: OSError(errno.ENOSPC, "No space left on device"),
]


def _assert_disk_full(exc: BaseException, target: Path) -> None:
    assert isinstance(exc, store_mod.StoreFullError)
    message = str(exc)
    assert f"the disk is full (no space left for {target})" in message
    assert "not a usable" not in message and "not a run store" not in message


@pytest.mark.parametrize("error", DISK_FULL, ids=["sqlite-full", "enospc"])
@pytest.mark.parametrize("when", ["INSERT INTO epochs", "COMMIT"])
def test_a_full_disk_while_writing_undoes_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    error: Callable[[], BaseException],
                                                    when: str) -> None:
    path = tmp_path / "runs.sqlite"
    writing = {"epoch": False}
    made = failing_connections(monkeypatch, lambda sql: writing["epoch"] and sql.startswith(when),
                               error())
    store = RunStore(path)
    rid = store.create_run(make_record())
    store.add_epoch(rid, 0, {"loss": 1.0})
    writing["epoch"] = True
    with pytest.raises(StoreError) as exc:
        store.add_epoch(rid, 1, {"loss": 0.5})
    _assert_disk_full(exc.value, path)
    assert made[0].failures == 1 and not made[0].in_transaction  # rolled back, not left open
    writing["epoch"] = False  # space freed: the store goes on, the failed epoch is not there
    assert [e["epoch"] for e in store.get(rid)["epochs"]] == [0]
    store.add_epoch(rid, 1, {"loss": 0.4})
    store.finish_run(rid, "completed", {}, None, {})
    assert [e["metrics"]["loss"] for e in store.get(rid)["epochs"]] == [1.0, 0.4]
    assert store.integrity_check() == ["ok"]


def test_a_real_sqlite_full_error_is_the_disk_full_message(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # PRAGMA max_page_count makes SQLite itself fail with SQLITE_FULL, as on a full disk.
    path = tmp_path / "runs.sqlite"
    RunStore(path).create_run(make_record("first"))
    real = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(*args, **kwargs)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    store = RunStore(path)
    big = make_record("big")
    big["config"]["data"]["notes"] = "x" * 200_000
    with pytest.raises(StoreError) as exc:
        store.create_run(big)
    _assert_disk_full(exc.value, path)
    assert [r["name"] for r in store.list_runs()] == ["first"]
    store.close()
    monkeypatch.undo()
    assert RunStore(path).integrity_check() == ["ok"]


@pytest.mark.parametrize("error", DISK_FULL, ids=["sqlite-full", "enospc"])
def test_a_full_disk_when_a_new_store_is_set_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                error: Callable[[], BaseException]) -> None:
    path = tmp_path / "runs.sqlite"
    failing_connections(monkeypatch, lambda sql: sql.lstrip().startswith("CREATE TABLE runs"),
                        error())
    with pytest.raises(StoreError) as exc:
        RunStore(path)
    _assert_disk_full(exc.value, path)
    monkeypatch.undo()
    store = RunStore(path)  # nothing half-made is left: the next open sets it up whole
    assert store.create_run(make_record()) == "1"


def test_a_full_disk_when_the_store_folder_is_made(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "new" / "deeper" / "runs.sqlite"

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(StoreError) as exc:
        RunStore(path)
    _assert_disk_full(exc.value, path.parent)


def test_a_full_disk_while_logging_leaves_no_partial_line(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    rid = store.create_run(make_record())
    store.log_event(rid, "run_start")
    log = store.events_path(rid)
    before = log.read_bytes()
    real = os.write
    calls = {"n": 0}

    def write(fd: int, data: object) -> int:
        chunk = bytes(data)  # type: ignore[call-overload]  # a bytes-like object
        if b'"run_end"' not in chunk and calls["n"] == 0:
            return real(fd, chunk)
        calls["n"] += 1
        if calls["n"] == 1:  # the disk fills up mid-line: a short write, then ENOSPC
            return real(fd, chunk[:9])
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(os, "write", write)
        with pytest.raises(StoreError) as exc:
            store.log_event(rid, "run_end", data={"status": "completed"})
    _assert_disk_full(exc.value, log)
    assert log.read_bytes() == before  # the partial line was cut off again
    store.log_event(rid, "run_end")
    assert [e["seq"] for e in store.read_events(rid)] == [0, 1]


def test_a_reader_still_reads_when_the_disk_is_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # `runs list` would mark a dead writer's run interrupted; with no space left it still lists.
    path = tmp_path / "runs.sqlite"
    store = _store_with_runs(path, 1)
    rid = store.create_run(make_record("dead"))
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE runs SET pid = ?, pid_start = NULL WHERE id = ?", (_dead_pid(), int(rid)))
    conn.commit()
    conn.close()
    failing_connections(monkeypatch, lambda sql: sql.startswith("BEGIN IMMEDIATE"),
                        sqlite3.OperationalError("database or disk is full"))
    code, out, err = _cli(capsys, "runs", "list", "--store", str(path))
    assert code == 0, err
    assert "dead" in out and "r0" in out
    with pytest.raises(StoreError, match="the disk is full"):
        RunStore(path)  # a writer (`torchrack run`) is told


# -- read-only stores ----------------------------------------------------------------------------

@pytest.fixture
def ro_store(tmp_path: Path) -> Path:
    """A store with two finished runs and a third whose writer died, closed cleanly."""
    path = tmp_path / "ro" / "runs.sqlite"
    store = _store_with_runs(path, 2)
    rid = store.create_run(make_record("dead"))
    store.log_event(rid, "run_start")
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE runs SET pid = ?, pid_start = NULL WHERE id = ?", (_dead_pid(), int(rid)))
    conn.commit()
    conn.close()
    return path


def _status(path: Path, rid: str) -> str:
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return str(conn.execute("SELECT status FROM runs WHERE id = ?", (int(rid),)).fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("what", ["file", "folder", "both"])
def test_a_read_only_store_is_readable_and_left_unchanged(
        ro_store: Path, what: str, deny_writes: Callable[..., None], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = ro_store.parent
    deny_writes(*{"file": [ro_store], "folder": [folder], "both": [ro_store, folder]}[what])
    before, names = _tree(folder), sorted(p.name for p in folder.iterdir())
    code, out, err = _cli(capsys, "runs", "list", "--store", str(ro_store))
    assert code == 0, err
    assert [line.split()[:3] for line in out.splitlines()[1:4]] == [
        ["3", "dead", "running"], ["2", "r1", "completed"], ["1", "r0", "completed"]]
    code, out, err = _cli(capsys, "runs", "show", "2", "--json", "--store", str(ro_store))
    assert code == 0, err
    code, out, err = _cli(capsys, "runs", "compare", "1", "2", "--store", str(ro_store))
    assert code == 0 and "comparing runs 1, 2" in out, err
    with RunStore(ro_store, create=False, read_only=None) as store:
        assert store.read_only and store.get("3")["status"] == "running"
        assert [e["type"] for e in store.read_events("3")] == ["run_start"]
        assert store.mark_interrupted() == []
    assert _tree(folder) == before  # not a byte written
    # Not writable: opened immutable=1, so not even a -wal or -shm file was made.
    assert sorted(p.name for p in folder.iterdir()) == names
    assert _status(ro_store, "3") == "running"  # not marked interrupted


def test_a_read_only_store_can_be_plotted(ro_store: Path, deny_writes: Callable[..., None],
                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="runs plot needs the optional extra torchrack[plot]")
    deny_writes(ro_store, ro_store.parent)
    before = _tree(ro_store.parent)
    out_png = tmp_path / "figs" / "curves.png"
    code, _, err = _cli(capsys, "runs", "plot", "1", "2", "-o", str(out_png), "--store", str(ro_store))
    assert code == 0, err
    assert out_png.read_bytes()[:4] == b"\x89PNG" and _tree(ro_store.parent) == before


def test_read_only_opens_with_mode_ro_and_immutable(ro_store: Path, deny_writes: Callable[..., None],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, bool]] = []
    real = sqlite3.connect

    def connect(database: str, *args: Any, uri: bool = False, **kwargs: Any) -> sqlite3.Connection:
        seen.append((str(database), uri))
        return real(database, *args, uri=uri, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    RunStore(ro_store, create=False, read_only=True).close()  # folder writable: mode=ro alone
    deny_writes(ro_store.parent)
    RunStore(ro_store, create=False, read_only=None).close()
    (first, uri1), (second, uri2) = seen
    assert uri1 and first.startswith("file:") and first.endswith("?mode=ro")
    assert uri2 and second.endswith("?mode=ro&immutable=1")


@pytest.mark.parametrize("what", ["file", "folder"])
def test_recording_into_a_read_only_store_says_so(ro_store: Path, what: str,
                                                  deny_writes: Callable[..., None],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    deny_writes(ro_store if what == "file" else ro_store.parent)
    before = _tree(ro_store.parent)
    with pytest.raises(StoreError, match=f"the run store {ro_store} is read-only") as exc:
        RunStore(ro_store)  # what `torchrack run` (Runner.open_store) opens
    assert isinstance(exc.value, store_mod.StoreReadOnlyError)
    assert "--store PATH" in str(exc.value)
    # `torchrack eval` writes an evaluation into the store: it is refused the same way.
    code, _, err = _cli(capsys, "eval", "1", "--store", str(ro_store))
    _assert_clean_failure(code, err, f"the run store {ro_store} is read-only")
    reader = RunStore(ro_store, create=False, read_only=None)
    with pytest.raises(StoreError, match="is read-only"):
        reader.add_epoch("1", 5, {"loss": 0.1})
    with pytest.raises(StoreError, match="is read-only"):
        reader.log_event("1", "run_start")
    assert _tree(ro_store.parent) == before


def test_a_new_store_in_a_read_only_folder(tmp_path: Path, deny_writes: Callable[..., None]) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    deny_writes(folder)
    with pytest.raises(StoreError, match=f"the run store {folder / 'sub' / 'runs.sqlite'} is read-only"):
        RunStore(folder / "sub" / "runs.sqlite")
    assert list(folder.iterdir()) == []


def test_a_read_only_empty_file_is_a_clear_error(tmp_path: Path, deny_writes: Callable[..., None],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "runs.sqlite"
    path.write_bytes(b"")
    deny_writes(path, tmp_path)
    code, _, err = _cli(capsys, "runs", "list", "--store", str(path))
    _assert_clean_failure(code, err, f"the run store {path} is empty")


KILLED_WRITER = """
import os, signal, sys
sys.path.insert(0, {helpers!r})
from torchrack_runs._store import RunStore
from _store_helpers import make_record
store = RunStore(sys.argv[1])
for i in range(3):
    store.add_epoch(store.create_run(make_record(f"w{{i}}")), 0, {{"loss": 1.0}})
os.kill(os.getpid(), signal.SIGKILL)  # no checkpoint: the runs are in the WAL only
"""


@pytest.mark.skipif(not hasattr(os, "kill") or os.name == "nt", reason="needs SIGKILL (POSIX)")
def test_a_read_only_folder_with_a_killed_writers_wal(tmp_path: Path, deny_writes: Callable[..., None],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "st" / "runs.sqlite"
    path.parent.mkdir()
    script = KILLED_WRITER.format(helpers=str(Path(__file__).resolve().parent))
    proc = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert Path(f"{path}-wal").stat().st_size > 0
    deny_writes(path, path.parent)
    # The -shm file is SQLite's shared-memory index, rebuilt by a reader that may write it
    # (root, here): the database and the WAL are what must not change (_tree skips -shm).
    before = _tree(path.parent)
    code, out, err = _cli(capsys, "runs", "list", "--store", str(path))
    assert code == 0, err
    # The writes that only the WAL holds are read (mode=ro first), and nothing is marked.
    assert [line.split()[:3] for line in out.splitlines()[1:4]] == [
        ["3", "w2", "running"], ["2", "w1", "running"], ["1", "w0", "running"]]
    assert _tree(path.parent) == before


def test_a_writable_store_read_by_runs_still_marks_dead_runs(ro_store: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    # Read-only only where the store cannot be written: a writable one is opened as before, and
    # the run whose writer died is shown (and stored) as interrupted.
    code, out, err = _cli(capsys, "runs", "show", "3", "--json", "--store", str(ro_store))
    assert code == 0, err
    assert '"status": "interrupted"' in out and _status(ro_store, "3") == "interrupted"


def _as_version_1(path: Path) -> None:
    """The store as torchrack before sweeps wrote it: schema version 1, no sweeps tables."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE sweep_trials")
    conn.execute("DROP TABLE sweeps")
    conn.commit()
    conn.close()
    _set_schema_version(path, "1")


def test_a_version_1_store_reads_read_only_without_sweeps_and_upgrades_when_writable(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    _store_with_runs(path).close()
    _as_version_1(path)
    before = _tree(tmp_path)
    with RunStore(path, create=False, read_only=True) as old:  # e.g. the dashboard
        assert [r["run_id"] for r in old.list_runs()] and old.list_sweeps() == []
        with pytest.raises(LookupError, match="from before sweeps.*opened read-only"):
            old.get_sweep("latest")
    assert _tree(tmp_path) == before  # read-only: nothing was migrated
    with RunStore(path) as store:  # writable: migrated to this version
        assert store.records_sweeps() and store.list_sweeps() == []
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    conn.close()
