"""Fixtures of the run-store tests (torchrack-runs alone with the core: no other plugin)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def deny_writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``deny_writes(*paths)`` makes files and folders read-only: chmod 0444 / 0555, and
    ``os.access`` answers so too.

    Root may write any file whatever its mode, and these tests may run as root, so ``os.access``
    (which the store asks to decide whether it may write) is replaced as well; SQLite's own
    ``mode=ro`` and ``immutable=1`` then keep even root from writing. The modes are restored
    after the test, so that pytest can remove its temporary folders.
    """
    restore: list[tuple[Path, int]] = []
    denied: set[str] = set()
    real = os.access

    def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        if mode & os.W_OK and os.path.realpath(path) in denied:
            return False
        return real(path, mode, *args, **kwargs)

    def deny(*paths: Path) -> None:
        for path in paths:
            restore.append((path, path.stat().st_mode))
            path.chmod(0o555 if path.is_dir() else 0o444)
            denied.add(os.path.realpath(path))
        monkeypatch.setattr(os, "access", access)

    yield deny
    for path, mode in reversed(restore):
        path.chmod(mode)
