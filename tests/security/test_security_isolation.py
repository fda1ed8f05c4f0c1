"""One bad plugin never stops the others, and cannot forge its verdict (issue: hardening, class 2).

Each test installs the first-party plugins (the development environment) plus one hostile
distribution on PYTHONPATH, and checks that the hostile one alone is reported, in time, with what
it did, while the others stay ok.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ._plugins import HEAD_CODE, config_with_head, torchrack, write_dist

pytestmark = pytest.mark.slow

PROBE_TIMEOUT = 15.0  # generous: first-party plugins import torch two at a time on a busy 2-core box

HOSTILE = {
    "hangs": "import time\ntime.sleep(600)\n",
    "exits-zero": "import os\nos._exit(0)\n",
    "sys-exit": "import sys\nsys.exit(3)\n",
    "segfaults": "import ctypes\nctypes.string_at(0)\n",
    "base-exception": "class Boom(BaseException):\n    pass\nraise Boom('not an Exception')\n",
    "fakes-stdout": ("import os, sys\nsys.stdout.write('\\n' + '{\"x\": null}' + '\\n')\nsys.stdout.flush()\n"
                     "os._exit(0)\n"),
    "patches-json": ("import json\n_real = json.dumps\njson.dumps = lambda *a, **k: '{}'\n"
                     "raise RuntimeError('broken, and json.dumps patched to hide it')\n"),
    "thread-stays": ("import threading, time\nthreading.Thread(target=time.sleep, args=(600,)).start()\n"
                     + HEAD_CODE),
}


def _check_all(tmp_path: Path, names: list[str]) -> tuple[dict[str, dict[str, object]], float]:
    """One `check --json` over the development environment plus every hostile plugin in
    ``names`` at once: each must be reported alone, whatever the others do."""
    site = tmp_path / "site"
    for name in names:
        write_dist(site, f"{name}-heads", heads={"bad_head": "Head"}, code=HOSTILE[name])
    started = time.monotonic()
    done = torchrack("check", "--json", cwd=tmp_path, site=site,
                     env={"TORCHRACK_PROBE_TIMEOUT": str(PROBE_TIMEOUT)}, timeout=300)
    took = time.monotonic() - started
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    return {p["name"]: p for p in report["plugins"]}, took


EXPECTED = {
    "hangs": f"longer than {PROBE_TIMEOUT:g} s",
    "exits-zero": "os._exit(0)",
    "sys-exit": "sys.exit(3)",
    "segfaults": "SIGSEGV",
    "base-exception": "Boom: not an Exception",
    "fakes-stdout": "os._exit(0)",
    "patches-json": "RuntimeError: broken",
}


def test_check_reports_each_hostile_plugin_broken_alone_and_the_others_ok(tmp_path: Path) -> None:
    plugins, took = _check_all(tmp_path, [*EXPECTED, "thread-stays"])
    for name, says in EXPECTED.items():
        bad = plugins.pop(f"{name}-heads")
        reasons = " ".join(bad["reasons"])  # type: ignore[arg-type]
        assert bad["verdict"] == "broken", (name, reasons)
        assert says in reasons, (name, reasons)
    # a thread left running does not make a good plugin slow or broken
    assert plugins.pop("thread-stays-heads")["verdict"] == "ok"
    assert plugins and {p["verdict"] for p in plugins.values()} == {"ok"}, plugins  # first-party
    # the hanging plugin costs the probe timeout (in parallel with the others), not 300 s
    assert took < PROBE_TIMEOUT + 60, took


@pytest.mark.parametrize("name,says", [("sys-exit", "sys.exit(3)"), ("exits-zero", "os._exit(0)"),
                                       ("base-exception", "Boom")])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_used_plugin_that_ends_the_process_at_import_fails_the_command(
    tmp_path: Path, name: str, says: str, command: str
) -> None:
    site = tmp_path / "site"
    write_dist(site, f"{name}-heads", heads={"bad_head": "Head"}, code=HOSTILE[name])
    config = config_with_head(tmp_path, "bad_head")
    done = torchrack(command, str(config), cwd=tmp_path, site=site, timeout=300)
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert any(f"{name}-heads" in line and says in line for line in lines), done.stderr
    assert not (tmp_path / ".torchrack" / "runs.sqlite").exists() or command == "run"


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("manifest,says", [
    (DEEP, "nested"),
    ('{"manifest_version": 1, "api": ">=1,<2", "components": {}, "n": ' + "7" * 5000 + "}", "digits"),
    ('{"manifest_version": 1, "api": ">=1,<2", "components": {}, "data": {"x": {"v": NaN}}}', "NaN"),
    ("x" * 5_000_000, "larger than"),
])
def test_a_hostile_manifest_is_that_plugin_broken_and_nothing_more(tmp_path: Path, manifest: str, says: str) -> None:
    site = tmp_path / "site"
    pkg = write_dist(site, "hostile-manifest", heads={"h": "Head"})
    (pkg / "torchrack-manifest.json").write_text(manifest)
    for env in ({}, {"TORCHRACK_DENY": "hostile-manifest"}, {"TORCHRACK_NO_PLUGINS": "1"}):
        for args in (["list", "--json"], ["check", "--json", "--static"]):
            done = torchrack(*args, cwd=tmp_path, site=site, env={"TORCHRACK_NO_CACHE": "1", **env})
            assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
            report = json.loads(done.stdout)
            plugins = {p["name"]: p for p in report["plugins"]}
            if env.get("TORCHRACK_NO_PLUGINS"):
                assert plugins == {}
                continue
            bad = plugins.pop("hostile-manifest")
            assert bad["verdict"] == ("denied" if env else "broken")
            if not env:
                assert any(says in r for r in bad["reasons"]), bad["reasons"]
            assert {p["verdict"] for p in plugins.values()} == {"ok"}


@pytest.mark.parametrize("content", [
    '{"format": 3, "ident": 5, "dists": "no"}',
    '[1, 2, 3]',
    '"just a string"',
    '{"format": 3, "ident": "x", "path_stamps": [["a", "b", "c"]], "torch_version": 7, "dists": [{"name": 1}]}',
    "[" * 50_000 + "]" * 50_000,
    "\x00\xff garbage",
])
def test_a_hostile_discovery_cache_file_is_a_miss_never_an_error(tmp_path: Path, content: str) -> None:
    cache = tmp_path / ".cache"
    first = torchrack("list", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    files = list(cache.glob("discovery-*.json"))
    assert files, "the first list wrote no cache file"
    for f in files:
        f.write_text(content, errors="surrogateescape")
    again = torchrack("list", "--json", cwd=tmp_path)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    assert json.loads(again.stdout)["components"] == json.loads(first.stdout)["components"]


def test_a_cache_with_the_right_ident_but_wrong_types_is_a_miss(tmp_path: Path) -> None:
    cache = tmp_path / ".cache"
    first = torchrack("list", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (f,) = list(cache.glob("discovery-*.json"))
    data = json.loads(f.read_text())
    for dist in data["dists"]:  # well-formed JSON, the right ident and stamps, wrong shapes inside
        dist["manifest"] = {"components": ["not", "a", "table"], "hooks": 5}
        dist["entry_points"] = [{"group": "torchrack.heads", "name": 7, "value": None}]
        dist["compat"] = {"env": dist.get("compat", {}).get("env"), "reasons": "x", "warnings": 1, "broken": None}
    f.write_text(json.dumps(data))
    again = torchrack("list", "--json", cwd=tmp_path)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    assert json.loads(again.stdout)["components"] == json.loads(first.stdout)["components"]


def test_a_plugin_that_hangs_costs_the_probe_timeout_plus_a_few_seconds(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_dist(site, "hangs-heads", heads={"bad_head": "Head"}, code=HOSTILE["hangs"])
    started = time.monotonic()
    # only the hanging plugin is allowed (so probed): the time is its probe's, nobody else's
    done = torchrack("check", "--json", cwd=tmp_path, site=site,
                     env={"TORCHRACK_PROBE_TIMEOUT": "5", "TORCHRACK_ALLOW": "hangs-heads"}, timeout=120)
    took = time.monotonic() - started
    report = json.loads(done.stdout)
    verdicts = {p["name"]: p["verdict"] for p in report["plugins"]}
    assert verdicts.pop("hangs-heads") == "broken" and set(verdicts.values()) == {"denied"}, verdicts
    assert done.returncode == 1 and took < 5 + 10, took
