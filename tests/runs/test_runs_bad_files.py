"""Bad lock files, unwritable outputs, truncated checkpoints and torchrun options: a message naming
the file and the fix, exit 1 or 2, never "internal error" (issue: hardening, classes 4 and 5)."""

from __future__ import annotations

import argparse
import errno
import json
from pathlib import Path
from typing import Any

import pytest

from ._cli import DIGITS, torchrack


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from torchrack.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    assert "internal error" not in err and "Traceback" not in err, err
    return code, out, err


@pytest.fixture(scope="module")
def good_lock(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cwd = tmp_path_factory.mktemp("lock")
    done = torchrack("lock", str(DIGITS), "-o", str(cwd / "good.lock"), cwd=cwd)
    assert done.returncode == 0, done.stderr
    lock: dict[str, Any] = json.loads((cwd / "good.lock").read_text())
    return lock


def _shapes(lock: dict[str, Any]) -> list[tuple[str, Any]]:
    first = dict(lock["components"][0])
    no_role = {k: v for k, v in first.items() if k != "role"}
    return [
        ("not JSON", "{oops"),
        ("a list", [1, 2]),
        ("a string", "lock"),
        ("no lock_version", {k: v for k, v in lock.items() if k != "lock_version"}),
        ("components a string", {**lock, "components": "all"}),
        ("components empty", {**lock, "components": []}),
        ("a component a string", {**lock, "components": ["x"]}),
        ("a component without role", {**lock, "components": [no_role]}),
        ("a role a number", {**lock, "components": [{**first, "role": 3}]}),
        ("torch a list", {**lock, "torch": [2]}),
        ("deeply nested", "[" * 100_000 + "]" * 100_000),
    ]


@pytest.mark.parametrize("index", range(11))
def test_a_lock_of_the_wrong_shape_is_named_never_an_internal_error(
    good_lock: dict[str, Any], tmp_path: Path, index: int, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    what, content = _shapes(good_lock)[index]
    path = tmp_path / "bad.lock"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    monkeypatch.chdir(tmp_path)
    for args in (["run", str(DIGITS), "--locked", str(path)], ["verify", "--lock", str(path)]):
        code, _, err = _main(capsys, *args)
        assert code == 1, (what, args, err)
        assert str(path) in err, (what, err)
    assert not (tmp_path / ".torchrack").exists(), "a refused run recorded something"


def test_a_lock_verifies_against_itself_and_a_missing_lock_is_named(good_lock: dict[str, Any], tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _main(capsys, "verify", "--lock", str(tmp_path / "absent.lock"))
    assert code == 1 and "absent.lock" in err
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code, _, err = _main(capsys, "verify", "--lock", str(folder))
    assert code == 1 and "folder" in err


def test_lock_output_errors_name_the_file_and_leave_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _main(capsys, "lock", str(DIGITS), "-o", str(tmp_path / "no" / "such" / "x.lock"))
    assert code == 1 and "does not exist" in err
    code, _, err = _main(capsys, "lock", str(DIGITS), "-o", str(tmp_path))
    assert code == 1 and "is a folder" in err
    import torchrack_runs._lock as lockmod

    real_fdopen = lockmod.os.fdopen

    class Full:
        def __init__(self, fd: int, *a: Any, **k: Any) -> None:
            self.fh = real_fdopen(fd, *a, **k)

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: Any) -> None:
            self.fh.close()

        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lockmod.os, "fdopen", Full)
    code, _, err = _main(capsys, "lock", str(DIGITS), "-o", str(tmp_path / "x.lock"))
    assert code == 1 and "No space left on device" in err and "x.lock" in err
    assert list(tmp_path.glob("*.lock")) == [] and list(tmp_path.glob(".x.lock.*")) == []


@pytest.mark.slow
def test_a_truncated_checkpoint_on_resume_names_the_checkpoint(tmp_path: Path) -> None:
    ran = torchrack("run", str(DIGITS), "--set", "run.epochs=1", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    shown = json.loads(torchrack("runs", "show", "latest", "--json", cwd=tmp_path).stdout)
    ckpt = Path(shown["checkpoint"])
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    import sqlite3

    with sqlite3.connect(tmp_path / ".torchrack" / "runs.sqlite") as db:  # as if it had been interrupted
        db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (int(shown["run_id"]),))
    resumed = torchrack("run", str(DIGITS), "--set", "run.epochs=1", "--resume", shown["run_id"], cwd=tmp_path)
    assert resumed.returncode == 1
    assert str(ckpt) in resumed.stderr and "truncated" in resumed.stderr, resumed.stderr
    assert "Errno" not in resumed.stderr and "Traceback" not in resumed.stderr


def _launch_args(*argv: str) -> argparse.Namespace:
    from torchrack_runs._launch import add_launch_arguments

    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--locked")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    add_launch_arguments(parser)
    return parser.parse_args(list(argv))


def test_torchruns_own_option_names_work_and_restarts_are_refused_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    from torchrack_runs._launch import LaunchOptions, torchrun_argv

    args = _launch_args("exp.toml", "--nproc-per-node", "2", "--standalone")
    argv = torchrun_argv(LaunchOptions.from_args(args), ["torchrack", "run", "exp.toml"])
    assert argv[:3] == ["--nproc-per-node", "2", "--standalone"]
    from torch.distributed.run import parse_args

    ns = parse_args(argv)
    assert ns.standalone and ns.nproc_per_node == "2"
    assert _launch_args("exp.toml", "--max-restarts", "0").max_restarts == "0"
    with pytest.raises(SystemExit) as exc:
        _launch_args("exp.toml", "--max-restarts", "3")
    assert exc.value.code == 2
    assert "restarts are not supported" in capsys.readouterr().err
