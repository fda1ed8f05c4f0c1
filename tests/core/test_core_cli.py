"""The ``torchrack`` command line, run as users run it: ``python -m torchrack`` in a subprocess.

Each test's fake distributions sit on ``PYTHONPATH`` in front of whatever else is installed, so
assertions look only at the test's own distributions (or scope ``check`` with ``--dist``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from fakedist import FakeSite, component
from torchrack import __version__

MARKER_CODE = """\
import pathlib
pathlib.Path({path!r}).write_text("imported")

class Component:
    def __init__(self, **params):
        self.params = params
"""

RAISING_CODE = """\
def _load():
    raise FileNotFoundError("weights.bin is missing")

try:
    _load()
except FileNotFoundError as exc:
    raise RuntimeError("acme_raises cannot start") from exc
"""

PROBE = """\
import contextlib, io, json, sys
from torchrack.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    rc = main({argv!r})
heavy = ["torch", "jsonschema", "pluggy", "packaging.requirements"]
print(json.dumps({{
    "rc": rc,
    "loaded": [m for m in sys.modules if m in heavy or m.split(".")[0] in {packages!r}],
}}))
"""


def plugins_by_name(stdout: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in json.loads(stdout)["plugins"]}


@pytest.fixture
def marker_site(site: FakeSite, tmp_path: Path) -> tuple[FakeSite, Path]:
    """Acceptance (a): a plugin needing torchrack>=99 whose module writes a file when imported."""
    marker = tmp_path / "imported.txt"
    site.add("acme-future", requires=["torchrack>=99"], code=MARKER_CODE.format(path=str(marker)))
    site.add("acme-good", components={"good": component("loss")})
    return site, marker


def test_incompatible_plugin_is_listed_with_reason_and_never_imported(
    marker_site: tuple[FakeSite, Path],
) -> None:
    site, marker = marker_site
    listed = site.cli("list", "--json")
    assert listed.returncode == 0, listed.stderr
    future = plugins_by_name(listed.stdout)["acme-future"]
    assert future["verdict"] == "incompatible"
    assert any("requires torchrack>=99" in r for r in future["reasons"]), future["reasons"]
    assert plugins_by_name(listed.stdout)["acme-good"]["verdict"] == "ok"

    check = site.cli("check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "incompatible  acme-future" in check.stdout and "FAILED" in check.stdout

    info = site.cli("info", "acme-future")
    assert info.returncode == 1 and "requires torchrack>=99" in info.stdout
    info_component = site.cli("info", "future")
    assert "incompatible" in info_component.stdout
    assert not marker.exists(), "an incompatible plugin's module must never be imported"


def test_plain_list_shows_unusable_plugins_with_reasons(marker_site: tuple[FakeSite, Path]) -> None:
    site, _ = marker_site
    out = site.cli("list")
    assert out.returncode == 0
    assert "plugins that cannot be used:" in out.stdout
    assert "acme-future 1.0.0: incompatible" in out.stdout and "requires torchrack>=99" in out.stdout
    assert "good" in out.stdout and "acme-good 1.0.0" in out.stdout


def test_raising_plugin_does_not_stop_the_others(site: FakeSite) -> None:
    site.add("acme-raises", components={"boom": component("loss")}, code=RAISING_CODE)
    site.add("acme-good", components={"good": component("loss")})

    listed = site.cli("list", "--json")
    assert listed.returncode == 0
    comps = {c["qualname"] for c in json.loads(listed.stdout)["components"]}
    assert {"acme-good:good", "acme-raises:boom"} <= comps  # import errors show only on import

    info = site.cli("info", "boom")
    assert info.returncode == 1
    assert "import error chain" in info.stdout
    assert "RuntimeError: acme_raises cannot start" in info.stdout
    assert "FileNotFoundError: weights.bin is missing" in info.stdout  # the chained cause

    info_json = json.loads(site.cli("info", "acme-raises:boom", "--json").stdout)
    assert info_json["plugin"]["verdict"] == "broken"
    assert info_json["plugin"]["import_error"]["chain"] == [
        "RuntimeError: acme_raises cannot start",
        "FileNotFoundError: weights.bin is missing",
    ]

    check = site.cli("check", "--json")
    assert check.returncode == 1
    report = plugins_by_name(check.stdout)
    assert report["acme-raises"]["verdict"] == "broken"
    assert any(
        "importing torchrack.losses:boom = acme_raises.components:Component failed: RuntimeError" in r
        for r in report["acme-raises"]["reasons"]
    ), report["acme-raises"]["reasons"]
    assert report["acme-good"]["verdict"] == "ok"

    good = site.cli("info", "acme-good:good")
    assert good.returncode == 0 and "verdict: ok" in good.stdout

    loads = site.python(
        "from torchrack import Registry\n"
        "reg = Registry.discover()\n"
        "print(reg.get('loss', 'acme-good:good')(scale=3).params)\n"
    )
    assert loads.returncode == 0 and loads.stdout.strip() == "{'scale': 3}", loads.stderr


@pytest.mark.parametrize(
    "argv",
    [["list"], ["list", "--json"], ["info", "good"], ["info", "acme-good", "--json"], ["check"]],
    ids=["list", "list-json", "info", "info-dist", "check"],
)
def test_list_info_check_import_neither_torch_nor_plugins(site: FakeSite, argv: list[str]) -> None:
    site.add("acme-good", components={"good": component("loss")}, code="import torch\n" + MARKER_CODE.format(path="/dev/null"))
    site.add("acme-metrics", components={"acc": component("metric")})
    run = site.python(PROBE.format(argv=argv + (["--dist", "acme-good"] if argv == ["check"] else []),
                                   packages=["acme_good", "acme_metrics"]))
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0
    assert "torch" not in result["loaded"]
    assert not [m for m in result["loaded"] if m.startswith("acme_")], result["loaded"]


def test_warm_list_imports_no_validation_or_hook_machinery(site: FakeSite) -> None:
    site.add("acme-good")
    site.backdate()
    probe = PROBE.format(argv=["list", "--json"], packages=["acme_good"])
    assert site.python(probe).returncode == 0  # fills the cache (keyed on this sys.path)
    assert list(site.cache_dir.glob("discovery-*.json"))
    run = site.python(probe)
    loaded = json.loads(run.stdout.strip().splitlines()[-1])["loaded"]
    assert loaded == [], f"a warm `torchrack list` should not import {loaded}"


@pytest.fixture
def warning_site(site: FakeSite) -> FakeSite:
    site.add(
        "acme-warn",
        entry_points={"torchrack.losses": {"a": "acme_warn.components:Component",
                                           "b": "acme_warn.components:Component"}},
        components={"a": component("loss"), "ghost": component("loss")},
    )
    return site


def test_check_passes_with_warnings_and_strict_fails(warning_site: FakeSite) -> None:
    plain = warning_site.cli("check", "--dist", "acme-warn")
    assert plain.returncode == 0, plain.stdout
    assert "not described in the manifest" in plain.stdout
    assert "manifest describes component 'ghost'" in plain.stdout
    strict = warning_site.cli("check", "--strict", "--dist", "acme-warn")
    assert strict.returncode == 1 and "FAILED" in strict.stdout


def test_check_json_report(warning_site: FakeSite) -> None:
    out = warning_site.cli("check", "--json", "--strict", "--dist", "acme-warn")
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["passed"] is False and report["strict"] is True
    assert report["torchrack"] == __version__
    assert report["counts"] == {"ok": 1, "incompatible": 0, "broken": 0, "denied": 0}
    assert report["warnings"] == 2
    assert [p["name"] for p in report["plugins"]] == ["acme-warn"]


def test_check_junit_is_valid_xml(warning_site: FakeSite, tmp_path: Path) -> None:
    warning_site.add("acme-future", requires=["torchrack>=99"])
    warning_site.add("acme-good")
    report = tmp_path / "junit.xml"
    out = warning_site.cli(
        "check", "--strict", "--junit", str(report),
        "--dist", "acme-warn", "--dist", "acme-future", "--dist", "acme-good",
    )
    assert out.returncode == 1
    suite = ET.parse(report).getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "3" and suite.get("failures") == "2"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["acme-future 1.0.0"].find("failure") is not None
    assert "incompatible" in (cases["acme-future 1.0.0"].find("failure").get("message") or "")  # type: ignore[union-attr]
    assert cases["acme-warn 1.0.0"].find("failure") is not None
    assert cases["acme-good 1.0.0"].find("failure") is None


def test_check_denied_plugin_is_not_a_failure(site: FakeSite) -> None:
    site.add("acme-good")
    out = site.cli("check", "--dist", "acme-good", env=site.env(TORCHRACK_DENY="acme-good"))
    assert out.returncode == 0 and "denied" in out.stdout and "TORCHRACK_DENY" in out.stdout


def test_check_unknown_dist_is_a_usage_error(site: FakeSite) -> None:
    out = site.cli("check", "--dist", "no-such-dist")
    assert out.returncode == 2 and "no plugin distribution named no-such-dist" in out.stderr


def test_list_kind_filter(site: FakeSite) -> None:
    site.add("acme-mixed", components={"focal": component("loss"), "acc": component("metric")})
    out = json.loads(site.cli("list", "--kind", "metrics", "--json").stdout)
    mine = [c["qualname"] for c in out["components"] if c["distribution"] == "acme-mixed"]
    assert mine == ["acme-mixed:acc"]


@pytest.mark.parametrize("kind", ["", "lossez"])
def test_list_with_an_empty_or_misspelt_kind_is_an_error_even_with_a_warm_cache(site: FakeSite, kind: str) -> None:
    # `--kind "$KIND"` with KIND unset listed every component (and the listing cache kept it)
    site.add("acme-losses", components={"focal": component("loss")})
    site.backdate()
    for _ in range(3):  # the discovery cache, then the listing cache, are warm by the third
        out = site.cli("list", "--kind", kind)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert f"unknown kind {kind!r}" in out.stderr and "expected one of: dataset" in out.stderr
        assert out.stdout == ""


def test_info_json_shows_manifest_and_verdict(site: FakeSite) -> None:
    spec = component("loss", "1.2.0", inputs={"logits": {"shape": ["N", "K"], "dtype": "floating"}})
    site.add("acme-losses", components={"focal": spec})
    out = site.cli("info", "acme-losses:focal", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["manifest"] == spec and data["registered"] is True
    assert data["plugin"]["verdict"] == "ok" and data["plugin"]["version"] == "1.0.0"


def test_info_unknown_name_suggests(site: FakeSite) -> None:
    site.add("acme-losses", components={"focal_loss": component("loss")})
    out = site.cli("info", "focal_los")
    assert out.returncode == 1 and "did you mean 'focal_loss'" in out.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["lsit"], "unknown command 'lsit' (did you mean 'list'?)"),
        (["list", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["check", "--strict=yes"], "ignored explicit argument"),
        (["schema"], "the following arguments are required: name"),
        (["schema", "nope"], "unknown schema 'nope'"),
        ([], "usage: torchrack"),
    ],
)
def test_usage_errors_exit_2(site: FakeSite, argv: list[str], expected: str) -> None:
    out = site.cli(*argv)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert expected in out.stdout + out.stderr


def test_version(site: FakeSite) -> None:
    out = site.cli("--version")
    assert out.returncode == 0 and out.stdout.strip().startswith(f"torchrack {__version__} (hook API ")


@pytest.mark.parametrize("name", ["manifest", "tensor-spec", "experiment-config", "run-record", "event"])
def test_schema_command_prints_each_schema(site: FakeSite, name: str) -> None:
    out = site.cli("schema", name)
    assert out.returncode == 0
    schema = json.loads(out.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(":1") and name in schema["$id"]
