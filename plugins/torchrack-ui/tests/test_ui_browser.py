"""The dashboard in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by selenium, against a store of runs trained by the real
``torchrack run`` of a tiny digits config written by the test, served by a real ``torchrack ui``
subprocess.

Every page is opened and its content checked (run names, metrics, the curves' SVG elements,
plugin names); a run trained while the page is open shows its new epochs without a reload, until
it completes. A screenshot of every page goes to ``$TORCHRACK_UI_SCREENSHOTS`` (default: a
temporary folder); the test prints where. Without chromium, chromedriver or selenium these tests
skip saying which is missing, unless ``TORCHRACK_REQUIRE_BROWSER=1`` (CI), when they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._ui_helpers import HOSTILE, SECRET, UIProcess, damage, fetch_json, plugin_site, ui_env, write_sweep

pytestmark = pytest.mark.slow

#: Where the screenshots go (default: a temporary folder).
SCREENSHOTS_ENV = "TORCHRACK_UI_SCREENSHOTS"

#: A tiny digits config (examples/digits.toml made small): its name, epochs, batch size and
#: widths are filled in by :func:`_config`.
TINY_DIGITS = """\
schema_version = 1

[run]
name = "{name}"
seed = 0
epochs = {epochs}

[data]
dataset = {{ name = "digits" }}
batch_size = {batch_size}

[[augment]]
name = "random_translate"
params = {{ max_shift = 1 }}

[model]
backbone = {{ name = "small_cnn", params = {{ in_channels = 1, widths = [{w1}, {w2}] }} }}
head = {{ name = "linear", params = {{ in_features = {w2}, num_classes = 10 }} }}

[loss]
name = "cross_entropy"

[optimizer]
name = "sgd"
params = {{ lr = 0.05, momentum = 0.9 }}

[scheduler]
name = "cosine"

[[metrics]]
name = "accuracy"

[[metrics]]
name = "nll"

[[metrics]]
name = "ece"
"""

#: The components the tiny digits config uses, by kind.
DIGITS_COMPONENTS = [("dataset", "digits"), ("augmentation", "random_translate"),
                     ("backbone", "small_cnn"), ("head", "linear"), ("loss", "cross_entropy"),
                     ("optimizer", "sgd"), ("scheduler", "cosine"), ("metric", "accuracy"),
                     ("metric", "nll"), ("metric", "ece")]

CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--window-size=1400,1000"]


def _browser_or_skip() -> tuple[str, str]:
    """The paths of chromium and chromedriver, or skip (fail under TORCHRACK_REQUIRE_BROWSER=1)
    naming what is missing."""
    missing = []
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None:
        missing.append("chromium (Debian: apt-get install chromium)")
    if driver is None:
        missing.append("chromedriver (Debian: apt-get install chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install selenium)")
    if missing:
        message = ("the browser tests need " + " and ".join(missing) + ", "
                   + ("which is not installed" if len(missing) == 1 else "which are not installed"))
        if os.environ.get("TORCHRACK_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (TORCHRACK_REQUIRE_BROWSER=1 makes this a failure)")
        pytest.skip(message)
    assert chromium is not None and driver is not None
    return chromium, driver


def _digits_or_skip() -> None:
    from torchrack import TorchrackError
    from torchrack.plugins import Registry

    registry = Registry.discover()
    missing = []
    for kind, name in DIGITS_COMPONENTS:
        try:
            registry.resolve(kind, name)
        except TorchrackError:
            missing.append(f"{kind} {name}")
    if missing:
        pytest.skip("training the digits demo needs components that are not installed here: "
                    + ", ".join(missing) + " (the first-party plugins; `pip install -r requirements-dev.txt`)")


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Path]:
    """Where the screenshots go: $TORCHRACK_UI_SCREENSHOTS, or a temporary folder; printed (past
    pytest's capture) before the tests and, with the files saved, after them."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(chosen).resolve() if chosen else tmp_path_factory.mktemp("ui-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def say(text: str) -> None:
        if capture is not None:
            with capture.global_and_fixture_disabled():
                print(text, flush=True)
        else:
            print(text, flush=True)

    say(f"\ntorchrack-ui browser tests: screenshots go to {folder} "
        f"({'set by ' + SCREENSHOTS_ENV if chosen else 'a temporary folder; set ' + SCREENSHOTS_ENV + '=DIR to choose'})")
    yield folder
    shots = sorted(folder.glob("*.png"))
    say(f"\ntorchrack-ui browser tests: {len(shots)} screenshots in {folder}: "
        + ", ".join(p.name for p in shots))


def _config(folder: Path, name: str, *, epochs: int, batch_size: int = 128,
            widths: tuple[int, int] = (8, 16)) -> Path:
    """Write the tiny digits config into ``folder``; return its path."""
    path = folder / f"{name.replace('/', '_')}.toml"
    path.write_text(TINY_DIGITS.format(name=name, epochs=epochs, batch_size=batch_size,
                                       w1=widths[0], w2=widths[1]))
    return path


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium with a fresh profile, driven by selenium. Without the digits
    components (the isolation session installs only this plugin) the tests skip first, saying
    so: there is nothing to train, with or without a browser."""
    _digits_or_skip()
    chromium, chromedriver = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    options.add_argument(f"--user-data-dir={profile}")
    service = Service(executable_path=chromedriver, log_output=str(tmp_path / "chromedriver.log"))
    browser = webdriver.Chrome(options=options, service=service)
    browser.set_page_load_timeout(60)
    try:
        yield browser
    finally:
        browser.quit()


def _train(store: Path, cwd: Path, config: Path, *sets: str) -> subprocess.Popen[str]:
    """``torchrack run CONFIG`` with ``--set`` overrides, in a subprocess."""
    args = [sys.executable, "-m", "torchrack", "run", str(config), "--store", str(store), "--no-progress"]
    for item in sets:
        args += ["--set", item]
    return subprocess.Popen(args, cwd=cwd, env=ui_env(cwd), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> None:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out


def _shoot(browser: Any, folder: Path, name: str) -> Path:
    """A screenshot of the whole page (the window stretched to the page's height)."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, max(800, min(int(height) + 40, 6000)))
    path = folder / f"{name}.png"
    assert browser.save_screenshot(str(path)), path
    browser.set_window_size(1400, 1000)
    return path


def _wait(browser: Any, check: Any, timeout: float = 30, what: str = "") -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(check, message=what)


def _open(browser: Any, url: str) -> None:
    browser.get(url)
    _wait(browser, lambda d: d.execute_script("return document.body.getAttribute('data-ready')") == "1",
          what=f"{url}: the dashboard's script did not run")


def _css(browser: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(browser.find_elements(By.CSS_SELECTOR, selector))


def _not_pwned(browser: Any) -> None:
    assert browser.execute_script("return window.__pwned === undefined"), "hostile markup ran"


def test_every_page_in_a_real_browser(tmp_path: Path, driver: Any, screenshots: Path) -> None:
    store = tmp_path / "store" / "runs.sqlite"
    config = _config(tmp_path, "digits-tiny", epochs=3)
    first = _train(store, tmp_path, config)
    _finish(first)  # run 1 first: ids in a known order
    second = _train(store, tmp_path, config, "optimizer.params.lr=0.1", f"run.name='{HOSTILE} digits'")
    _finish(second)
    third = _train(store, tmp_path, config, "run.epochs=1", "run.name='to-be-damaged'")
    _finish(third)
    from torchrack_runs import RunStore

    with RunStore(store) as writer:  # the two runs as the trials of a sweep over the lr
        sweep = write_sweep(writer, "lr-search", [(0.05, "1", "completed"), (0.1, "2", "completed"),
                                                 (0.2, None, "failed")], "2")
    # Run 3's record damaged; run 1's config as an old or patched writer left it: a secret in clear.
    damage(store, "3", "components", "{this is not JSON")
    conn = sqlite3.connect(store)
    with conn:
        (text,) = conn.execute("SELECT config FROM runs WHERE id = 1").fetchone()
        config_1 = json.loads(text)
        config_1["trackers"] = [{"name": "mlflow", "params": {"api_token": SECRET}}]
        conn.execute("UPDATE runs SET config = ? WHERE id = 1", (json.dumps(config_1),))
    conn.close()
    site = plugin_site(tmp_path / "site")
    ui = UIProcess(["--store", str(store), "--port", "0", "--refresh", "0.5"], cwd=tmp_path,
                   env=ui_env(tmp_path / "ui", pythonpath=[site]))
    base = ui.start().rstrip("/")
    try:
        # The runs table: both runs, their status and accuracy, the hostile name as text.
        # The damaged run is one row saying why; the others show in full.
        _open(driver, base + "/")
        rows = _css(driver, "#runs-table tbody tr[data-run-id]")
        assert [r.get_attribute("data-run-id") for r in rows] == ["3", "2", "1"]
        assert "unreadable" in rows[0].text and "components" in rows[0].text
        rows = rows[1:]
        assert "digits-tiny" in rows[1].text and "completed" in rows[1].text
        assert rows[0].find_element("css selector", "td.name").text == f"{HOSTILE} digits"
        headers = [h.text for h in _css(driver, "#runs-table thead th")]
        assert "accuracy" in headers and "ece" in headers
        _not_pwned(driver)
        _shoot(driver, screenshots, "01-runs")

        # Filtered and sorted, through the form's query string.
        assert SECRET not in driver.page_source
        _open(driver, base + "/?component=small_cnn&sort=accuracy&order=desc")
        assert len(_css(driver, "#runs-table tbody tr[data-run-id]")) == 2
        _open(driver, base + "/?name=tiny")
        assert [r.get_attribute("data-run-id") for r in _css(driver, "#runs-table tbody tr[data-run-id]")] == ["1"]
        _shoot(driver, screenshots, "02-runs-filtered")

        # A run: its curves drawn as SVG (one point per epoch), config, components, checkpoints.
        _open(driver, base + "/runs/1")
        charts = _wait(driver, lambda d: _css(d, "#curves svg.tr-chart") or False, what="no chart drawn")
        titles = [c.get_attribute("data-metric") for c in charts]
        assert titles[0] == "loss" and {"accuracy", "nll", "ece", "lr"} <= set(titles)
        assert len(_css(driver, '#curves svg[data-metric="accuracy"] circle.tr-point')) == 3
        assert _css(driver, '#curves svg[data-metric="loss"] polyline.tr-line.tr-thin')  # per-step loss
        assert len(_css(driver, "#epochs-body tr")) == 3
        text = driver.find_element("css selector", "main").text
        for needle in ("optimizer.params.lr", "small_cnn", "torchrack-backbones 0.1.0",
                       "the recorded versions are installed", "checkpoint.pt", "platform",
                       "trackers[0].params.api_token"):
            assert needle in text, needle
        assert [c.text for c in _css(driver, "#epochs-body tr td:first-child")] == ["1", "2", "3"]
        assert _css(driver, "#config .badge.redacted") and SECRET not in driver.page_source
        _shoot(driver, screenshots, "03-run")

        # The damaged run's page says what is wrong with it, and nothing else breaks.
        _open(driver, base + "/runs/3")
        assert "Run 3 is unreadable" in driver.find_element("css selector", "h1").text
        assert "components" in driver.find_element("css selector", "main").text
        _shoot(driver, screenshots, "04-unreadable-run")

        # Compare: the differences and the overlaid curves (one line per run on each chart).
        _open(driver, base + "/compare?runs=1,2")
        charts = _wait(driver, lambda d: _css(d, "#compare-curves svg.tr-chart") or False)
        assert all(len(c.find_elements("css selector", "g.tr-series")) == 2 for c in charts)
        diff = driver.find_element("css selector", "#diff-config").text
        assert "optimizer.params.lr" in diff and "0.05" in diff and "0.1" in diff and "run.name" in diff
        assert "redacted" in diff and SECRET not in driver.page_source
        _not_pwned(driver)
        _shoot(driver, screenshots, "05-compare")

        # The sweeps (when this torchrack-runs records them; else the page says there are none):
        # the sweep's trials with their points, runs and objective; then an unknown sweep.
        _open(driver, base + "/sweeps")
        if sweep is None:
            assert "records no sweeps" in driver.find_element("css selector", "#no-sweeps").text
        else:
            assert "lr-search" in driver.find_element("css selector", "#sweeps-table").text
        _shoot(driver, screenshots, "06-sweeps")
        if sweep is not None:
            _open(driver, base + f"/sweeps/{sweep}")
            rows = _css(driver, "#sweep-trials tbody tr")
            assert len(rows) == 3 and "best" in rows[1].text and "run 2" in rows[1].text
            assert "0.1" in rows[1].text and "failed" in rows[2].text
            _shoot(driver, screenshots, "07-sweep")
        _open(driver, base + "/sweeps/99")
        assert "No sweep 99" in driver.find_element("css selector", "h1").text
        assert "no sweep '99'" in driver.find_element("css selector", "main").text
        _shoot(driver, screenshots, "08-sweep-404")

        # The catalogue: installed components with params tables and tensor specs, verdicts.
        _open(driver, base + "/plugins")
        text = driver.find_element("css selector", "main").text
        for needle in ("torchrack-backbones", "small_cnn", "cross_entropy", "accuracy", "acme-losses",
                       HOSTILE, "deprecated since 1.0", "[N, K]"):
            assert needle in text, needle
        assert _css(driver, 'section.plugin[data-verdict="ok"]')
        _not_pwned(driver)
        _shoot(driver, screenshots, "09-plugins")

        _open(driver, base + "/runs/999")
        assert "no run '999'" in driver.find_element("css selector", "main").text
        _shoot(driver, screenshots, "10-not-found")

        # The JSON behind the pages, as the browser gets it.
        driver.get(base + "/api/runs?sort=accuracy")
        data = json.loads(driver.find_element("css selector", "body").text)
        assert [r["run_id"] for r in data["runs"]] == ["2", "1", "3"]  # best first; unreadable last
        assert data["runs"][2]["unreadable"] and data["runs"][0]["epochs"] == 3
        driver.get(base + "/api/runs/1")
        assert SECRET not in driver.page_source and "api_token" in driver.page_source
    finally:
        out, err = ui.stop()
    assert ui.proc.returncode == 0, out + err
    assert "Traceback" not in err, err


def test_a_live_run_shows_new_epochs_without_a_reload(tmp_path: Path, driver: Any,
                                                      screenshots: Path) -> None:
    store = tmp_path / "store" / "runs.sqlite"
    epochs = 8
    config = _config(tmp_path, "digits-live", epochs=epochs, batch_size=32, widths=(32, 64))
    training = _train(store, tmp_path, config)
    try:
        deadline = time.monotonic() + 120
        while not store.exists():  # the UI reads an existing store only
            assert training.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        ui = UIProcess(["--store", str(store), "--port", "0", "--refresh", "0.3"], cwd=tmp_path,
                       env=ui_env(tmp_path / "ui"))
        base = ui.start().rstrip("/")
        try:
            while True:
                status, data = fetch_json(base + "/api/runs")
                if status == 200 and data["runs"]:
                    break
                if training.poll() is not None or time.monotonic() > deadline:
                    out = training.communicate(timeout=60)[0] if training.poll() is not None else "(still running)"
                    raise AssertionError(f"the run never appeared in the store (last answer {status}: "
                                         f"{str(data)[:300]}); the training said:\n{out[-3000:]}")
                time.sleep(0.1)
            # The runs table first: the running row's epochs cell moves on by itself.
            _open(driver, base + "/")
            driver.execute_script("window.__samePage = 'table'")  # gone if the page reloads
            cell = '#runs-table tr[data-run-id="1"] [data-field="epochs"]'
            start = driver.find_element("css selector", cell).text
            assert int(start) < epochs, f"the run had ended before the table was opened ({start} epochs)"
            _wait(driver, lambda d: d.find_element("css selector", cell).text != start, timeout=120,
                  what=f"the runs table's epochs cell stayed at {start}")
            assert driver.execute_script("return window.__samePage") == "table", "the table was reloaded"
            _shoot(driver, screenshots, "11-live-runs-table")

            _open(driver, base + "/runs/1")
            driver.execute_script("window.__samePage = 'yes'")  # gone if the page reloads
            seen: list[int] = []
            mid_shot = False
            while True:
                count = int(driver.find_element("css selector", "#epoch-count").text)
                status = driver.find_element("css selector", "#run-status").text
                if not seen or seen[-1] != count:
                    seen.append(count)
                if status == "running" and 2 <= count < epochs and not mid_shot:
                    _shoot(driver, screenshots, "12-live-running")
                    mid_shot = True
                if status != "running":  # the poll that ended it may have landed between two reads
                    count = int(driver.find_element("css selector", "#epoch-count").text)
                    if seen[-1] != count:
                        seen.append(count)
                    break
                assert time.monotonic() < deadline + 120, f"the run did not finish; epochs seen {seen}"
                time.sleep(0.1)
            _, final = fetch_json(base + "/api/runs/1/curves")
            assert status == "completed" and final["epochs"] == epochs, (status, final["epochs"], final["error"])
            points = '#curves svg[data-metric="accuracy"] circle.tr-point'
            try:
                _wait(driver, lambda d: len(_css(d, points)) == epochs, timeout=60)
            except Exception as exc:  # noqa: BLE001 - say what the page shows instead
                raise AssertionError(f"the page draws {len(_css(driver, points))} accuracy points of "
                                     f"{epochs}; epochs seen {seen}") from exc
            assert driver.execute_script("return window.__samePage") == "yes", "the page was reloaded"
            assert seen[-1] == epochs and len(seen) >= 3 and seen == sorted(seen), seen
            assert int(driver.execute_script("return document.body.getAttribute('data-live-updates')")) >= 3
            assert len(_css(driver, "#epochs-body tr")) == epochs
            assert "the run has ended: completed" in driver.find_element("css selector", "#live-note").text
            assert mid_shot, f"no screenshot while running; epochs seen {seen}"
            _shoot(driver, screenshots, "13-live-completed")
        finally:
            out, err = ui.stop()
        assert ui.proc.returncode == 0 and "Traceback" not in err, out + err
    finally:
        if training.poll() is None:
            training.kill()
        training.communicate()
