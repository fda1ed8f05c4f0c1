"""Commands as plugins: `torchrack.commands` entry points, vetted before import like any plugin."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakedist import FakeSite

pytestmark = pytest.mark.usefixtures("isolated")

COMMAND_CODE = """\
import os

if os.environ.get("PLANT_IMPORT_MARKER"):
    open(os.environ["PLANT_IMPORT_MARKER"], "a").write("imported\\n")


class Hello:
    @staticmethod
    def add_arguments(parser):
        parser.add_argument("who")

    @staticmethod
    def run(args):
        print(f"hello {args.who}")
        return 0


hello = Hello()
"""


def _command_dist(site: FakeSite, dist: str, *, name: str = "hello", requires: tuple[str, ...] = ("torchrack>=0.1,<1",),
                  summary: str = "say hello to someone", value: str | None = None) -> Path:
    pkg = dist.replace("-", "_")
    return site.add(
        dist,
        components={},
        entry_points={"torchrack.commands": {name: value or f"{pkg}.components:hello"}},
        manifest={"manifest_version": 1, "api": ">=1,<2", "components": {},
                  "commands": {name: {"summary": summary}}},
        requires=requires,
        code=COMMAND_CODE,
    )


def test_a_plugin_command_is_listed_from_its_manifest_and_runs(site: FakeSite, tmp_path: Path) -> None:
    _command_dist(site, "hello-cmd")
    marker = tmp_path / "marker"
    env = site.env(PLANT_IMPORT_MARKER=str(marker))
    shown = site.cli("--help", env=env)
    assert shown.returncode == 0, shown.stderr
    line = next(line for line in shown.stdout.splitlines() if line.strip().startswith("hello "))
    assert "say hello to someone" in line and "hello-cmd" in line
    assert not marker.exists(), "--help imported the command's module"
    ran = site.cli("hello", "world", env=env)
    assert (ran.returncode, ran.stdout.strip()) == (0, "hello world"), ran.stderr
    assert marker.read_text() == "imported\n"


def test_an_incompatible_command_plugin_is_never_imported_and_shown_unavailable(site: FakeSite, tmp_path: Path) -> None:
    _command_dist(site, "future-cmd", requires=("torchrack>=99",))
    marker = tmp_path / "marker"
    env = site.env(PLANT_IMPORT_MARKER=str(marker))
    shown = site.cli("--help", env=env)
    assert shown.returncode == 0
    line = next(line for line in shown.stdout.splitlines() if line.strip().startswith("hello "))
    assert "unavailable" in line and "requires torchrack>=99" in line
    ran = site.cli("hello", "world", env=env)
    assert ran.returncode == 1 and "unavailable" in ran.stderr and "torchrack>=99" in ran.stderr
    assert "Traceback" not in ran.stderr
    for args in (["list"], ["check", "--static"], ["list", "--json"]):
        assert site.cli(*args, env=env).returncode in (0, 1)
    assert not marker.exists()


def test_a_denied_command_is_not_imported(site: FakeSite, tmp_path: Path) -> None:
    _command_dist(site, "hello-cmd")
    marker = tmp_path / "marker"
    for deny in ("hello-cmd", "hello-cmd:hello"):
        ran = site.cli("hello", "x", env=site.env(PLANT_IMPORT_MARKER=str(marker), TORCHRACK_DENY=deny))
        assert ran.returncode == 1 and "denied" in ran.stderr, ran.stderr
    assert not marker.exists()


def test_a_command_that_breaks_at_import_is_reported_not_raised(site: FakeSite) -> None:
    _command_dist(site, "bad-cmd", value="bad_cmd.components:nothing_here")
    ran = site.cli("hello", "x")
    assert ran.returncode == 1 and "command 'hello'" in ran.stderr and "Traceback" not in ran.stderr
    # the core's own commands are untouched by a broken command plugin
    assert site.cli("list").returncode == 0


def test_two_distributions_with_one_command_name_are_an_error_naming_both(site: FakeSite) -> None:
    _command_dist(site, "hello-a")
    _command_dist(site, "hello-b")
    ran = site.cli("hello", "x")
    assert ran.returncode == 1 and "hello-a" in ran.stderr and "hello-b" in ran.stderr


def test_a_missing_first_party_command_names_its_distribution(
    site: FakeSite, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torchrack.cli as cli
    from torchrack.plugins import Registry

    # discovery sees only the fake site, where torchrack-runs is not installed
    monkeypatch.setattr(cli, "_registry", lambda: Registry.discover(path=[str(site.path)]))
    assert cli.main(["run", "examples/digits.toml"]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "torchrack-runs" in lines[0] and "pip install torchrack-runs" in lines[0]
    assert cli.main(["--help"]) == 0
    assert "run" in capsys.readouterr().out
