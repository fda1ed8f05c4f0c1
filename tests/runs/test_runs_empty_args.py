"""An empty value for a path, name or address flag (``--store "$STORE"`` with the variable unset)
is a usage error naming the flag; it is never taken as the working directory, the default store,
every distribution or every interface."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cli import DIGITS, torchrack

CASES = [
    (["run", ""], "argument config"),
    (["validate", " "], "argument config"),
    (["lock", str(DIGITS), "-o", ""], "argument -o/--output"),
    (["run", str(DIGITS), "--store", ""], "argument --store"),
    (["eval", "1", "--store", ""], "argument --store"),
    (["sweep", "list", "--store", ""], "argument --store"),
    (["runs", "--store", "", "list"], "argument --store"),
    (["runs", "show", "1", "--store", ""], "argument --store"),
    (["runs", "plot", "1", "-o", ""], "argument -o/--output"),
    (["runs", "report", "1", "-o", ""], "argument -o/--output"),
    (["runs", "gate", "1", "--baseline", "1", "--max-drop", "accuracy=0.1", "--junit", ""], "argument --junit"),
    (["ui", "--store", ""], "argument --store"),
    (["ui", "--host", ""], "argument --host"),
    (["check", "--dist", ""], "argument --dist"),
    (["verify", "--dist", ""], "argument --dist"),
]


@pytest.mark.parametrize(("args", "flag"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_an_empty_value_is_a_usage_error_naming_the_flag(tmp_path: Path, args: list[str], flag: str) -> None:
    done = torchrack(*args, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert f"error: {flag}: expected " in done.stderr and "found an empty string" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / ".torchrack").exists()  # nothing recorded, no default store created
