"""Fixtures for the core tests: an isolated environment and a folder of fake distributions."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for `from fakedist import ...` in the tests

from fakedist import INSTALLED_TORCH, FakeSite  # noqa: E402


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user settings, no user cache: every test starts from the same environment.

    Requested by ``site``, and by ``pytestmark`` in the test_core_* modules (other tests in this
    folder are left as they are).
    """
    for var in [v for v in os.environ if v.startswith("TORCHRACK_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("TORCHRACK_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "cwd"
    work.mkdir(exist_ok=True)
    monkeypatch.chdir(work)  # settings are read from the working directory


@pytest.fixture
def site(tmp_path: Path, isolated: None) -> Iterator[FakeSite]:
    """An empty fake ``site-packages`` with a fake torch of the installed version."""
    s = FakeSite(tmp_path / "site", tmp_path / "cache", tmp_path / "cwd", INSTALLED_TORCH)
    yield s
    # Fake packages share names across tests: forget any that a test imported.
    for name in list(sys.modules):
        if name.split(".")[0] in s.packages:
            del sys.modules[name]
    importlib.invalidate_caches()
