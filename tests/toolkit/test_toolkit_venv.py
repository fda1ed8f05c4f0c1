"""End to end, in a fresh virtual environment (not sharing this one's site-packages): a scaffolded
plugin of every kind installs with pip and passes its own tests and `torchrack check --strict`,
and every command of docs/plugin-authors.md runs, in order, and succeeds.

One venv is shared by the tests of this module (torch==2.13.0 is installed first, explicitly, so
pip never resolves a bare `torch`; then the core from a wheelhouse holding the wheel of ./core,
which TORCHRACK_WHEELHOUSE names, as the guide says). Slow: about two minutes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _pip import bare_torch, pip_commands, split_args

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
KINDS = ["dataset", "augmentation", "backbone", "head", "loss", "metric", "accelerator", "optimizer",
         "scheduler", "calibrator", "adapter"]
TORCH = "torch==2.13.0"
DOC = ROOT / "docs" / "plugin-authors.md"

#: The guide's torch install: the pinned CPU build, before anything that depends on torch.
DOC_TORCH = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
#: The guide's torchrack install, from the wheelhouse: run as written.
DOC_TORCHRACK = 'pip install --find-links "$TORCHRACK_WHEELHOUSE" torchrack pytest'

#: doc command -> what the test runs instead: the same torch, from this machine's package index
#: (the CPU build here) rather than download.pytorch.org.
TRANSLATE = {DOC_TORCH: f"pip install -q {TORCH}"}


class Venv:
    def __init__(self, path: Path, home: Path) -> None:
        self.path = path
        self.bin = path / "bin"
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        self.env.update({
            "VIRTUAL_ENV": str(path), "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "TORCHRACK_CACHE_DIR": str(home / "cache"), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        })
        for var in ("TORCHRACK_ALLOW", "TORCHRACK_DENY"):
            self.env.pop(var, None)

    def sh(self, command: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(command, shell=True, cwd=cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        assert proc.returncode == 0, f"$ {command}\n(exit {proc.returncode})\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        return proc


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    home = tmp_path_factory.mktemp("venv")
    # The wheelhouse: what `nox -s dist` writes to dist/, here only the core's wheel.
    wheelhouse = home / "wheelhouse"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheelhouse), str(ROOT / "core")], check=True, timeout=300)
    subprocess.run([sys.executable, "-m", "venv", str(home / "env")], check=True, timeout=300)
    v = Venv(home / "env", home)
    v.env["TORCHRACK_WHEELHOUSE"] = str(wheelhouse)
    # Not this environment's packages: nothing of it is visible in the new one.
    assert str(sys.prefix) not in v.sh("python -c 'import sys; print(sys.path)'", home).stdout
    v.sh(TRANSLATE[DOC_TORCH], home)  # before anything that depends on torch
    v.sh(f"{DOC_TORCHRACK} -q", home)
    location = v.sh("python -c 'import torchrack; print(torchrack.__file__)'", home).stdout
    assert location.startswith(str(home / "env")), location  # installed from the wheel, not the checkout
    yield v
    shutil.rmtree(home, ignore_errors=True)


def test_scaffolds_of_every_kind_install_and_pass_their_tests_and_check(venv: Venv, tmp_path: Path) -> None:
    for kind in KINDS:
        venv.sh(f"torchrack new-plugin kit-{kind} --kind {kind} --dir {tmp_path}", tmp_path)
    # Every kind's scaffold declares the same build system; the first one is built as a user's pip
    # builds it (an isolated build environment, from the declared requirements), the others with
    # that backend installed once (pip makes a fresh build environment per project, ~7 s each).
    build_systems = {k: tomllib.loads((tmp_path / f"kit-{k}" / "pyproject.toml").read_text())["build-system"]
                     for k in KINDS}
    assert all(b == build_systems[KINDS[0]] for b in build_systems.values()), build_systems
    venv.sh(f"pip install -q {tmp_path / f'kit-{KINDS[0]}'}", tmp_path)  # not editable
    venv.sh("pip install -q " + " ".join(f"'{r}'" for r in build_systems[KINDS[0]]["requires"]), tmp_path)
    venv.sh("pip install -q --no-build-isolation " + " ".join(str(tmp_path / f"kit-{k}") for k in KINDS[1:]),
            tmp_path)
    check = venv.sh("torchrack check --strict", tmp_path)
    assert f"{len(KINDS)} ok, 0 incompatible, 0 broken, 0 denied; 0 warnings -> passed" in check.stdout
    for kind in KINDS:
        out = venv.sh("python -m pytest -q -p no:cacheprovider", tmp_path / f"kit-{kind}").stdout
        m = re.search(r"(\d+) passed", out)
        assert m and "failed" not in out and "error" not in out.lower().split("warnings summary")[0], out
        assert int(m[1]) >= 8  # behaviour + manifest + a conformance test per check


def doc_commands() -> list[str]:
    """Every `$ ` line of the ```console blocks of docs/plugin-authors.md, in order."""
    blocks = re.findall(r"```console\n(.*?)```", DOC.read_text(), flags=re.S)
    return [line[2:].strip() for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_the_guide_has_commands_and_the_test_knows_its_installs() -> None:
    commands = doc_commands()
    assert len(commands) >= 12
    assert all(c in commands for c in TRANSLATE)
    assert commands[:2] == [DOC_TORCH, DOC_TORCHRACK]  # torch before torchrack, as the guide says


def test_the_guide_never_installs_a_bare_torch_nor_torchrack_from_public_pypi() -> None:
    """Every pip command of the guide's console and sh blocks: torch pinned from the CPU index;
    torchrack from the wheelhouse or an explicit index."""
    blocks = re.findall(r"```(?:console|sh)\n(.*?)```", DOC.read_text(), flags=re.S)
    commands = [c for block in blocks for c in pip_commands(block.replace("$ ", ""))]
    assert commands
    assert [why for c in commands if (why := bare_torch(c))] == []
    for command in commands:
        options, targets = split_args(command)
        if "torchrack" in targets:
            assert options.get("--find-links") or options.get("--index-url"), command


def test_every_command_of_the_author_guide_runs(venv: Venv, tmp_path: Path) -> None:
    cwd = tmp_path
    ran = []
    for command in doc_commands():
        if command.startswith("cd "):
            cwd = cwd / command[3:].strip()
            ran.append(command)
            continue
        proc = venv.sh(TRANSLATE.get(command, command), cwd)
        ran.append(command)
        if command.startswith("pytest --torchrack-conformance"):
            assert re.search(r"torchrack conformance: \d+ checks ran", proc.stdout), proc.stdout
        if command.startswith("torchrack check dist/"):
            assert "1 ok, 0 incompatible" in proc.stdout
    assert ran == doc_commands()
    assert (cwd / "torchrack-check.xml").is_file()
