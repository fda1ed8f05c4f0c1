"""When the browser is missing, the browser tests skip naming what is missing, unless CI
requires them (``TORCHRACK_REQUIRE_BROWSER=1``), when they fail: a CI machine that lost its
chromium package cannot pass green without having run them."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_ui_browser import _browser_or_skip


def test_without_chromium_the_browser_tests_skip_saying_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no chromium, no chromedriver
    monkeypatch.delenv("TORCHRACK_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        _browser_or_skip()
    message = str(info.value)
    assert "apt-get install chromium" in message and "apt-get install chromium-driver" in message


def test_ci_turns_the_missing_browser_into_a_failure(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("TORCHRACK_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception) as info:
        _browser_or_skip()
    assert "chromium" in str(info.value) and "TORCHRACK_REQUIRE_BROWSER=1" in str(info.value)


def test_with_chromium_installed_the_gate_gives_its_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORCHRACK_REQUIRE_BROWSER", raising=False)
    chromium, driver = _browser_or_skip()  # skips here, naming what is missing
    assert Path(chromium).name.startswith("chromium") and Path(driver).name == "chromedriver"
