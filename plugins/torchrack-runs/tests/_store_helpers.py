"""Shared helpers of the run-store and `torchrack runs` tests."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from torchrack.contracts import validate

#: A secret that must never reach the store, the event log or `runs show` output.
SECRET = "tkn-9f8e7d6c5b4a-do-not-leak"


def make_record(name: str = "demo", *, lr: float = 0.01, seed: int = 0,
                secret: str | None = SECRET, backbone_version: str = "1.0.0") -> dict[str, Any]:
    """A run record as the trainer hands it to ``RunStore.create_run`` (no run_id)."""
    config: dict[str, Any] = {
        "schema_version": 1,
        "run": {"name": name, "seed": seed, "epochs": 3},
        "data": {"dataset": {"name": "digits", "params": {"token": secret} if secret else {}},
                 "batch_size": 64},
        "model": {"backbone": {"name": "small_cnn", "params": {"width": 16}},
                  "head": {"name": "linear", "params": {"in_features": 64}}},
        "optimizer": {"name": "sgd", "params": {"lr": lr}},
        "augment": [{"name": "flip", "params": {"p": 0.5}}],
    }
    sha = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    return {
        "name": name,
        "status": "running",
        "config": config,
        "config_sha256": sha,
        "components": [
            {"role": "model.backbone", "kind": "backbone", "name": "small_cnn",
             "version": backbone_version, "distribution": "torchrack-backbones",
             "distribution_version": "0.1.0", "entry_point": "torchrack_backbones.cnn:SmallCNN",
             "files_sha256": hashlib.sha256(backbone_version.encode()).hexdigest()},
        ],
        "environment": {"python": "3.11.7", "torch": "2.13.0", "torchrack": "0.1.0",
                        "platform": "Linux-x86_64", "cuda": None, "git_commit": None},
        "seed": seed,
        "final_metrics": {},
        "timings": {"started_at": 1000.0},
        "checkpoint": None,
    }


def assert_valid(name: str, instance: Any) -> None:
    """Fail with every schema problem of ``instance`` against the published schema ``name``."""
    problems = validate(name, instance)
    assert not problems, "\n".join(map(str, problems))


class FailingConnection:
    """An sqlite3 connection whose ``execute`` raises ``error`` for SQL that ``fails(sql)``
    accepts (a full disk, say); everything else goes to the real connection. ``armed`` turns
    the failure on and off (space freed again)."""

    def __init__(self, conn: sqlite3.Connection, fails: Callable[[str], bool],
                 error: BaseException) -> None:
        self._conn = conn
        self._fails = fails
        self._error = error
        self.armed = True
        self.failures = 0

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if self.armed and self._fails(sql):
            self.failures += 1
            raise self._error
        return self._conn.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if self.armed and self._fails(sql):
            self.failures += 1
            raise self._error
        return self._conn.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def failing_connections(monkeypatch: pytest.MonkeyPatch, fails: Callable[[str], bool],
                        error: BaseException) -> list[FailingConnection]:
    """Make every new store connection a :class:`FailingConnection`; return them as made."""
    made: list[FailingConnection] = []
    real = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> FailingConnection:
        conn = FailingConnection(real(*args, **kwargs), fails, error)
        made.append(conn)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    return made
