"""Helpers of the sweep tests (no tests here): small sweep files on the digits demo (mlp, 1 epoch)
and reading sweeps back from a store."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path
from typing import Any

from ._cli import DIGITS, torchrack

#: The digits demo with an mlp backbone, one epoch, accuracy only: about a second a trial.
BASE = f"""
base = "{DIGITS.as_posix()}"
[run]
name = "tiny"
epochs = 1
[model]
backbone = {{ name = "mlp", params = {{ in_channels = 1, widths = [64] }} }}
[[metrics]]
name = "accuracy"
"""


def sweep_file(tmp: Path, sweep: str, name: str = "sweep.toml", base: str = BASE) -> Path:
    path = tmp / name
    path.write_text(textwrap.dedent(base) + textwrap.dedent(sweep), encoding="utf-8")
    return path


def show_json(cwd: Path, ref: str = "latest") -> dict[str, Any]:
    proc = torchrack("sweep", "show", ref, "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def runs_of(store: Path) -> list[dict[str, Any]]:
    """Every run of the store: id, status, its sweep tag and timings, read straight from SQLite."""
    conn = sqlite3.connect(store)
    try:
        rows = conn.execute("SELECT id, status, extra, timings FROM runs ORDER BY id").fetchall()
    finally:
        conn.close()
    return [{"id": str(i), "status": s, "sweep": json.loads(e).get("sweep"),
             "timings": json.loads(t)} for i, s, e, t in rows]


def table_of(sweep: dict[str, Any]) -> list[tuple[int, int, str, Any]]:
    """(trial, seed, status, objective) of every trial: what two sweeps must agree on."""
    return [(t["trial"], t["seed"], t["status"], t["objective"]) for t in sweep["trials"]]
