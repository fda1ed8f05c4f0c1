"""Fixtures for the plugin-author toolkit tests (tests/toolkit/test_toolkit_*.py)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for `from _fakeplugin import ...`


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No allow/deny settings, a private discovery cache, and an empty working directory."""
    for var in ("TORCHRACK_ALLOW", "TORCHRACK_DENY", "TORCHRACK_NO_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TORCHRACK_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "cwd"
    work.mkdir(exist_ok=True)
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def fake_site(tmp_path: Path, isolated: Path) -> Iterator[Path]:
    """An empty folder on ``sys.path`` for :func:`_fakeplugin.write_plugin`; cleaned up after."""
    site = tmp_path / "site"
    site.mkdir()
    sys.path.insert(0, str(site))
    before = set(sys.modules)
    yield site
    sys.path.remove(str(site))
    for name in set(sys.modules) - before:
        mod = sys.modules.get(name)
        if mod is not None and str(getattr(mod, "__file__", "") or "").startswith(str(site)):
            del sys.modules[name]
    importlib.invalidate_caches()
