"""The scaffold's templates (package data in torchrack/authoring/templates) and the wheelhouse.

Every kind renders completely (no token left) into Python that ruff passes; the CI workflow never
installs a bare torch and takes torchrack from the wheelhouse; the templates ship in the core's
wheel and render from it; `nox -s dist` finds every distribution of the repository.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
from _pip import bare_torch, pip_commands, split_args
from torchrack.authoring import _scaffold
from torchrack.authoring._scaffold import (
    DEFAULT_COMPONENT,
    TEMPLATES,
    manifest_for,
    new_plugin,
    render_plugin,
)
from torchrack.cli import _new_plugin

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
KINDS = ["dataset", "augmentation", "backbone", "head", "loss", "metric", "accelerator", "optimizer",
         "scheduler", "calibrator", "adapter"]
TEMPLATE_DIR = ROOT / "core" / "src" / "torchrack" / "authoring" / "templates"
TOKEN = re.compile(r"__[A-Z][A-Z0-9_]*__")  # __DIST__, __NAME__, ... (never __init__, __future__)
DOC = ROOT / "docs" / "plugin-authors.md"


def test_the_kinds_are_the_cores() -> None:
    from torchrack._kinds import KINDS as CORE_KINDS

    assert sorted(KINDS) == sorted(CORE_KINDS) == sorted(DEFAULT_COMPONENT)


@pytest.mark.parametrize("component", [None, "my_thing2"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_with_no_token_left(kind: str, component: str | None) -> None:
    files = render_plugin("acme-kit.x", kind, component)
    name = component or DEFAULT_COMPONENT[kind][0]
    assert Path("src/acme_kit_x") / f"{name}.py" in files and Path("tests") / f"test_{name}.py" in files
    for rel, text in files.items():
        assert not TOKEN.search(str(rel)), rel
        left = sorted(set(TOKEN.findall(text)))
        assert not left, f"{rel}: tokens left after rendering: {left}"
    manifest = json.loads(files[Path("src/acme_kit_x/torchrack-manifest.json")])
    assert manifest == manifest_for(kind, name) and list(manifest["components"]) == [name]
    if component:  # the class is named after the component
        assert "class MyThing2" in files[Path(f"src/acme_kit_x/{name}.py")]


def test_every_template_file_is_rendered_and_every_rendered_file_has_one() -> None:
    on_disk = {p.relative_to(TEMPLATE_DIR).as_posix() for p in TEMPLATE_DIR.rglob("*") if p.is_file()}
    on_disk = {p for p in on_disk if "__pycache__" not in p}
    used = {t.format(kind=kind) for t in TEMPLATES for kind in KINDS}
    assert on_disk == used
    assert not (TEMPLATE_DIR.parent / "_templates.py").exists()  # the strings module is gone


def test_python_templates_are_python() -> None:
    for path in TEMPLATE_DIR.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")  # the tokens are identifiers


def _ruff() -> str | None:
    beside = Path(sys.executable).with_name("ruff")
    return str(beside) if beside.is_file() else shutil.which("ruff")


def _repository_rules() -> list[str]:
    """This repository's ruff rules, as options (the rendered project has no ruff settings)."""
    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]
    lint = ruff.get("lint", {})
    return [
        "--select", ",".join(lint.get("select", ["E", "F"])),
        "--ignore", ",".join(lint.get("ignore", [])) or "E501",
        "--line-length", str(ruff.get("line-length", 88)),
        "--target-version", ruff.get("target-version", "py310"),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_rendered_python_passes_ruff(kind: str, tmp_path: Path) -> None:
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed (pip install ruff) so the rendered code cannot be linted")
    root, files = new_plugin(f"acme-{kind}", kind, tmp_path)
    assert any(p.suffix == ".py" for p in files)
    # --isolated: no settings from above tmp_path; the project root is cwd, so src/ is first-party
    # (as in the plugin's own repository) and the import blocks are sorted as ruff wants them.
    proc = subprocess.run([ruff, "check", "--isolated", "--no-cache", *_repository_rules(), "."],
                          cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _ci() -> str:
    return render_plugin("acme-losses", "loss")[Path(".github/workflows/ci.yml")]


def test_the_pip_line_checker_knows_a_bare_torch() -> None:
    def bare(line: str) -> str | None:
        (argv,) = pip_commands(line)
        return bare_torch(argv)

    for bad in ("pip install torch", 'pip install "torch>=2.4"', "pip install torch==2.13.0",
                "pip install torch --index-url https://download.pytorch.org/whl/cpu",
                "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128",
                "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu "
                "--extra-index-url https://pypi.org/simple",
                "python -m pip install -q torchvision torch==2.* -i https://download.pytorch.org/whl/cpu"):
        assert bare(bad), bad
    for good in ("pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu",
                 "pip install -q --index-url=https://download.pytorch.org/whl/cpu/ 'torch==2.13.0'",
                 'pip install --find-links "$TORCHRACK_WHEELHOUSE" torchrack ".[test]"',
                 "pip install -e ./torch-plugin"):
        assert bare(good) is None, good
    assert pip_commands("# pip install torch\n  - run: echo hi") == []


def test_ci_installs_the_cpu_torch_first_and_never_a_bare_one() -> None:
    commands = pip_commands(_ci())
    installs = [c for c in commands if c[1] == "install"]
    assert installs, "the workflow installs nothing with pip"
    problems = [why for c in commands if (why := bare_torch(c))]
    assert not problems, problems
    # torch comes first: every later install (the project needs torch>=2.4) finds it installed.
    first_options, first_targets = split_args(installs[0])
    assert first_targets == ["torch==2.13.0"], installs[0]
    assert first_options["--index-url"] == ["https://download.pytorch.org/whl/cpu"]
    assert all("torch==" not in " ".join(c) for c in installs[1:])
    for wheel in (c for c in commands if c[1] == "wheel"):
        assert "--no-deps" in wheel, wheel  # building the plugin's wheel resolves nothing


def test_ci_takes_torchrack_from_the_wheelhouse_and_shows_a_private_index() -> None:
    ci = _ci()
    installs = [c for c in pip_commands(ci) if c[1] == "install"]
    core = [c for c in installs if "torchrack" in split_args(c)[1]]
    assert len(core) == 1, installs
    options = split_args(core[0])[0]
    assert options["--find-links"] == ["$TORCHRACK_WHEELHOUSE"] and "--no-index" in options
    project = [c for c in installs if ".[test]" in split_args(c)[1]]
    assert len(project) == 1 and split_args(project[0])[0]["--find-links"] == ["$TORCHRACK_WHEELHOUSE"]
    assert "TORCHRACK_WHEELHOUSE: ${{ inputs.torchrack-wheelhouse || vars.TORCHRACK_WHEELHOUSE }}" in ci
    comments = [line for line in ci.splitlines() if line.lstrip().startswith("#")]
    assert any("pip install --index-url https://" in line and "torchrack" in line for line in comments)
    assert 'test -n "$TORCHRACK_WHEELHOUSE"' in ci or '[ -z "$TORCHRACK_WHEELHOUSE" ]' in ci


def test_the_guide_shows_the_ci_the_scaffold_writes() -> None:
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    shown = [line.strip() for line in block.splitlines() if line.strip()]
    written = {line.strip() for line in _ci().splitlines()}
    assert shown and [line for line in shown if line not in written] == []


def test_new_plugin_says_to_install_the_cpu_torch_when_torch_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for installed, name in ((True, "acme-a"), (False, "acme-b")):
        monkeypatch.setattr(_new_plugin, "_torch_installed", lambda installed=installed: installed)
        args = argparse.Namespace(name=name, kind="loss", dir=str(tmp_path), component=None)
        assert _new_plugin.run(args) == 0
        out = capsys.readouterr().out
        steps = out.split("next:\n", 1)[1]
        if installed:
            assert "torch" not in steps.replace("torchrack", "")
        else:
            assert steps.index("pip install torch --index-url https://download.pytorch.org/whl/cpu") \
                < steps.index('pip install -e ".[test]"')


# -- the wheel --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def core_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("core-wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(ROOT / "core")], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "No module named hatchling" in proc.stderr:
        pytest.skip("hatchling is not installed here, so the core wheel cannot be built (pip install hatchling)")
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob("torchrack-*.whl")
    return wheel


def test_the_templates_are_in_the_core_wheel(core_wheel: Path) -> None:
    names = set(zipfile.ZipFile(core_wheel).namelist())
    expected = {"torchrack/authoring/templates/" + p.relative_to(TEMPLATE_DIR).as_posix()
                for p in TEMPLATE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert expected and expected <= names, sorted(expected - names)
    assert "torchrack/authoring/_templates.py" not in names
    schemas = {p.name for p in (ROOT / "contracts").glob("*.json")}
    assert schemas and {f"torchrack/contracts/json/{s}" for s in schemas} <= names  # still force-included


def test_a_plugin_renders_from_the_wheel_itself(core_wheel: Path, tmp_path: Path) -> None:
    """importlib.resources reads the templates from inside the archive (zipimport), not from a checkout."""
    code = (
        "import sys, torchrack.authoring._scaffold as s\n"
        "assert s.__file__.startswith(sys.argv[1]), s.__file__\n"
        "root, files = s.new_plugin('acme-zip', 'metric', sys.argv[2])\n"
        "print(len(files))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(core_wheel)}
    proc = subprocess.run([sys.executable, "-c", code, str(core_wheel), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    from_checkout = render_plugin("acme-zip", "metric")
    assert int(proc.stdout) == len(from_checkout)
    for rel, text in from_checkout.items():
        assert (tmp_path / "acme-zip" / rel).read_text(encoding="utf-8") == text, rel


def test_templates_are_read_as_package_data() -> None:
    assert _scaffold.read_template("project/gitignore.tmpl").startswith("__pycache__/")
    with pytest.raises(FileNotFoundError):
        _scaffold.read_template("project/nope.tmpl")


# -- nox -s dist --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def noxfile() -> ModuleType:
    pytest.importorskip("nox", reason="nox is not installed, so noxfile.py cannot be imported")
    spec = importlib.util.spec_from_file_location("torchrack_noxfile", ROOT / "noxfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dist_lists_the_core_then_every_plugin_with_a_pyproject(noxfile: ModuleType, tmp_path: Path) -> None:
    for rel in ("core", "plugins/acme-b", "plugins/acme-a", "plugins/notes"):
        (tmp_path / rel).mkdir(parents=True)
    for rel in ("core", "plugins/acme-b", "plugins/acme-a"):
        (tmp_path / rel / "pyproject.toml").write_text(f'[project]\nname = "{Path(rel).name}.Dist"\n')
    (tmp_path / "plugins" / "README.md").write_text("not a folder")
    assert noxfile.distributions(tmp_path) == [tmp_path / "core", tmp_path / "plugins/acme-a",
                                               tmp_path / "plugins/acme-b"]
    assert noxfile.distribution_name(tmp_path / "plugins/acme-a") == "acme_a_dist"


def test_dist_covers_every_distribution_of_the_repository(noxfile: ModuleType) -> None:
    found = noxfile.distributions()
    assert found[0] == ROOT / "core"
    assert found[1:] == sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
    names = [noxfile.distribution_name(p) for p in found]
    assert names[0] == "torchrack" and "torchrack_runs" in names and len(set(names)) == len(names)


def test_dist_is_documented_and_not_a_default_session(noxfile: ModuleType) -> None:
    import nox

    assert "dist" not in nox.options.sessions
    assert "dist" in (noxfile.__doc__ or "").split("\n\n", 1)[0]
    assert callable(noxfile.dist)


@pytest.mark.parametrize(("typo", "meant"), [("adaptor", "adapter"), ("calibrater", "calibrator"), ("optimiser", "optimizer")])
def test_a_misspelt_kind_gets_a_did_you_mean(tmp_path: Path, typo: str, meant: str) -> None:
    from torchrack.authoring import ScaffoldError, new_plugin

    with pytest.raises(ScaffoldError, match=rf"unknown kind '{typo}' \(did you mean '{meant}'\?\)"):
        new_plugin("acme", typo, tmp_path)
    assert list(tmp_path.iterdir()) == []
