"""Terminal safety of `torchrack runs`: what a run name holds cannot move the cursor, clear the
screen, ring the bell or forge a row (the CLI escapes control characters; `runs` keeps each value on
one line), and a reader that goes away (`| head -1`) ends the command quietly."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from torchrack.cli import main
from torchrack_runs._store import RunStore

from ._store_helpers import make_record

HOSTILE = "evil\x1b[2J\x1b]0;pwned\x07\rnot-a-status\x9b31m"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_no_controls(text: str) -> None:
    bad = [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0]
    assert not bad, f"raw control characters {bad!r} in output"


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    s = RunStore(tmp_path / "runs.sqlite")
    rid = s.create_run(make_record(HOSTILE))
    s.add_epoch(rid, 0, {"loss\x1b[31m": 1.0})
    s.finish_run(rid, "failed", {"accuracy": 0.5}, "boom\x1b[2J\x07", {})
    return s


@pytest.mark.parametrize("action", [["list"], ["show", "1"], ["compare", "1", "1"]])
def test_escape_sequences_in_a_run_name_are_shown_escaped(store: RunStore, action: list[str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "runs", *action, "--store", str(store.path))
    assert code == 0, err
    _assert_no_controls(out)
    if action[0] != "compare":  # compare lists only what differs: nothing, here
        assert "evil\\x1b[2J\\x1b]0;pwned\\x07\\x0dnot-a-status\\x9b31m" in out


def test_escapes_in_show_details(store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "runs", "show", "1", "--store", str(store.path))
    assert code == 0
    assert "error: boom\\x1b[2J\\x07" in out and "loss\\x1b[31m" in out


@pytest.mark.parametrize("action", [["list", "--json"], ["show", "1", "--json"]])
def test_json_output_escapes_them_as_json(store: RunStore, action: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "runs", *action, "--store", str(store.path))
    assert code == 0, err
    _assert_no_controls(out)
    data = json.loads(out)
    record = data[0] if isinstance(data, list) else data
    assert record["name"] == HOSTILE  # the value itself is kept, as JSON escapes


def test_escapes_in_an_error_message(store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "runs", "show", "\x1b[2J\x07", "--store", str(store.path))
    assert code == 1 and out == ""
    assert "\\x1b[2J\\x07" in err and "\x1b" not in err and "\x07" not in err


def test_a_newline_in_a_name_cannot_forge_a_row(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    s = RunStore(tmp_path / "runs.sqlite")
    s.create_run(make_record("real\n99  forged  completed\tfake"))
    code, out, _ = _cli(capsys, "runs", "list", "--store", str(s.path))
    assert code == 0
    rows = out.splitlines()
    assert rows[1].startswith("1   real\\n99  forged  completed\\tfake  running")
    assert not any(line.startswith("99") for line in rows)
    code, out, _ = _cli(capsys, "runs", "show", "1", "--store", str(s.path))
    assert out.splitlines()[0] == "run 1: real\\n99  forged  completed\\tfake  [running]"


def _many_runs(path: Path, n: int) -> None:
    store = RunStore(path)
    rid = store.create_run(make_record("template"))
    store.finish_run(rid, "completed", {"accuracy": 0.5, "loss": 0.25}, None, {})
    store.close()
    conn = sqlite3.connect(path)
    columns = ("name, status, error, config, config_sha256, components, environment, seed, "
               "final_metrics, timings, checkpoint, checkpoint_epoch, extra, pid, pid_start, "
               "hostname, created_at, updated_at")
    with conn:
        for _ in range(n - 1):
            conn.execute(f"INSERT INTO runs({columns}) SELECT {columns} FROM runs WHERE id = 1")
    conn.close()


@pytest.mark.parametrize("extra", [[], ["--json"]], ids=["table", "json"])
def test_a_closed_pipe_ends_runs_list_quietly(tmp_path: Path, extra: list[str]) -> None:
    path = tmp_path / "runs.sqlite"
    _many_runs(path, 3000)  # far more output than a pipe buffers
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHRACK_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "torchrack", "runs", "list", *extra, "--store", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # `| head -1`: one line, then the reader goes away
    proc.stdout.close()
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    code = proc.wait(timeout=120)
    assert first.strip(), err
    for needle in ("BrokenPipeError", "internal error", "Traceback", "Exception ignored"):
        assert needle not in err, err
    assert code == 0, err
