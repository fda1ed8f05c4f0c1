"""The core without torch: a fresh virtualenv with `pip install ./core` alone (issue: architecture).

A plugin's CI job that only vets a wheel, or an environment, must not download torch: list,
check, info, schema, manifest checks, wheel vetting and verify all work there, and importing
torchrack or listing plugins imports no torch. A command of torchrack-runs, absent there, says in
one line which distribution to install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

# A plugin whose code imports no torch: what `info` and `check` look at in the venv.
PLAIN = {
    "plain_metric/__init__.py": "class Count:\n    def __init__(self, scale: float = 1.0):\n        self.scale = scale\n",
    "plain_metric/torchrack-manifest.json": json.dumps({
        "manifest_version": 1, "api": ">=1,<2",
        "components": {"count": {"kind": "metric", "version": "1.0.0", "summary": "Counts samples.",
                                 "params": {"type": "object", "additionalProperties": False,
                                            "properties": {"scale": {"type": "number", "default": 1.0}}}}},
    }),
}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("notorch")
    env_dir = home / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=300)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # The core from a wheel (as a plugin's CI gets it), with its own dependencies and nothing else.
    wheels = home / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(ROOT / "core"), str(ROOT / "plugins" / "torchrack-losses")],
                   check=True, timeout=600, capture_output=True)
    core = next(wheels.glob("torchrack-*.whl"))
    subprocess.run([*pip, str(core)], check=True, timeout=600, capture_output=True)
    site = home / "site"
    for rel, text in PLAIN.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    info = site / "plain_metric-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plain-metric\nVersion: 1.0\n"
                                   "Requires-Dist: torchrack>=0.1,<1\n")
    (info / "entry_points.txt").write_text("[torchrack.metrics]\ncount = plain_metric:Count\n")
    (info / "RECORD").write_text("".join(f"{r},,\n" for r in PLAIN))
    yield env_dir


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TORCHRACK_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(TORCHRACK_CACHE_DIR=str(cwd / ".cache"), PYTHONPATH=str(venv.parent / "site"),
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_pip_list_shows_no_torch(venv: Path, tmp_path: Path) -> None:
    listed = _run(venv, "python", "-m", "pip", "list", "--format", "json", cwd=tmp_path)
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "torchrack" in names and "torch" not in names, sorted(names)


def test_every_core_command_works_without_torch(venv: Path, tmp_path: Path) -> None:
    wheel = next((venv.parent / "wheels").glob("torchrack_losses-*.whl"))
    commands = [
        (["torchrack", "list"], "1 components from 1 usable plugin"),
        (["torchrack", "list", "--json"], '"name": "count"'),
        (["torchrack", "check", "--strict"], "1 ok, 0 incompatible, 0 broken"),
        (["torchrack", "info", "count"], "Counts samples."),
        (["torchrack", "schema", "manifest"], "urn:torchrack:schema:manifest:1"),
        # torchrack-losses declares torch>=2.4, which is not installed here: vetted, not installed
        (["torchrack", "check", str(wheel)], "torch is not installed"),
        (["torchrack", "verify"], "plain-metric"),
        (["torchrack", "config"], "allow"),
        (["torchrack", "--help"], "not installed: pip install torchrack-runs"),
    ]
    for args, expected in commands:
        done = _run(venv, *args, cwd=tmp_path)
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr, (args, done.stderr)
        assert expected in done.stdout + done.stderr, (args, done.stdout, done.stderr)
        assert done.returncode in (0, 1), (args, done.returncode)
    assert _run(venv, "torchrack", "check", "--strict", cwd=tmp_path).returncode == 0


def test_import_torchrack_and_listing_import_no_torch(venv: Path, tmp_path: Path) -> None:
    code = ("import sys, json\nimport torchrack\nfrom torchrack.cli import main\n"
            "rc = [main(['list']), main(['check', '--static']), main(['info', 'count', '--no-import'])]\n"
            "print(json.dumps({'rc': rc, 'torch': [m for m in sys.modules if m.split('.')[0] == 'torch']}))\n")
    done = _run(venv, "python", "-c", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"rc": [0, 0, 0], "torch": []}


@pytest.mark.parametrize("command", ["run", "validate", "runs", "lock", "eval"])
def test_a_run_command_without_torchrack_runs_names_the_distribution_in_one_line(
    venv: Path, tmp_path: Path, command: str
) -> None:
    done = _run(venv, "torchrack", command, str(ROOT / "examples" / "digits.toml"), cwd=tmp_path)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "torchrack-runs" in lines[0] and "pip install torchrack-runs" in lines[0], done.stderr
    assert done.stdout == ""
