"""`torchrack new-plugin`, `torchrack manifest generate|check`, and the CI gate (`check` on a wheel,
`--junit`, `--dist`), run as a user runs them: `python -m torchrack` in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

KINDS = ["dataset", "augmentation", "backbone", "head", "loss", "metric", "accelerator", "optimizer",
         "scheduler"]


def torchrack(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "torchrack", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def build_wheel(project: Path, out: Path) -> Path:
    """The project's wheel, built without installing anything (hatchling from this environment)."""
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(out), str(project)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.mark.parametrize("kind", KINDS)
def test_new_plugin_writes_a_complete_distribution(isolated: Path, kind: str) -> None:
    proc = torchrack("new-plugin", f"acme-{kind}", "--kind", kind, "--dir", "work", cwd=isolated)
    assert proc.returncode == 0, proc.stderr
    root = isolated / "work" / f"acme-{kind}"
    package = root / "src" / f"acme_{kind}"
    for rel in ("pyproject.toml", "README.md", ".github/workflows/ci.yml", "tests/test_conformance.py",
                "tests/test_manifest.py"):
        assert (root / rel).is_file(), rel
    manifest = json.loads((package / "torchrack-manifest.json").read_text())
    (name, entry), = manifest["components"].items()
    assert entry["kind"] == kind
    pyproject = (root / "pyproject.toml").read_text()
    assert '"torchrack>=0.1,<1", "torch>=2.4"' in pyproject and 'requires = ["hatchling' in pyproject
    assert f'{name} = "acme_{kind}.{name}:' in pyproject
    assert "parametrize_conformance(dist=" in (root / "tests/test_conformance.py").read_text()
    # its manifest matches its code from the start
    check = torchrack("manifest", "check", str(root), cwd=isolated)
    assert check.returncode == 0, check.stdout + check.stderr


def test_new_plugin_refuses_bad_input_and_never_overwrites(isolated: Path) -> None:
    assert torchrack("new-plugin", "acme", "--kind", "loss", cwd=isolated).returncode == 0
    again = torchrack("new-plugin", "acme", "--kind", "loss", cwd=isolated)
    assert again.returncode == 1 and "already exists and is not empty" in again.stderr
    bad = torchrack("new-plugin", "acme2", "--kind", "sampler", cwd=isolated)
    assert bad.returncode == 1 and "unknown kind 'sampler'" in bad.stderr
    worse = torchrack("new-plugin", "-acme", "--kind", "loss", cwd=isolated)
    assert worse.returncode == 2  # argparse: not a name


def test_manifest_check_reports_drift_and_generate_fixes_it(isolated: Path) -> None:
    torchrack("new-plugin", "acme-heads", "--kind", "head", cwd=isolated)
    root = isolated / "acme-heads"
    code = root / "src/acme_heads/linear_probe.py"
    code.write_text(code.read_text().replace(
        "num_classes: int = 10, dropout: float = 0.0) -> None:",
        "num_classes: int = 12, dropout: float = 0.0, bias: bool = True,\n"
        "                 norm: Literal['none', 'layer'] = 'none', widths: list[int] | None = None) -> None:",
    ).replace("import torch\n", "from typing import Literal\n\nimport torch\n", 1))
    check = torchrack("manifest", "check", cwd=root)
    assert check.returncode == 1
    out = check.stdout
    assert "param 'num_classes' defaults to 12 in the code but 10 in the manifest" in out
    assert "param 'bias' is accepted by the code but missing from the manifest" in out
    assert "param 'norm' is accepted by the code but missing from the manifest" in out

    gen = torchrack("manifest", "generate", cwd=root)
    assert gen.returncode == 0, gen.stderr
    params = json.loads((root / "src/acme_heads/torchrack-manifest.json").read_text())["components"]["linear_probe"]["params"]
    props = params["properties"]
    assert props["num_classes"]["default"] == 12 and props["num_classes"]["description"] == "K, the number of classes."
    assert props["in_features"]["minimum"] == 1  # a constraint the code cannot state is kept
    assert props["bias"] == {"type": "boolean", "default": True}
    assert props["norm"] == {"enum": ["none", "layer"], "default": "none"}
    assert props["widths"] == {"type": ["array", "null"], "items": {"type": "integer"}, "default": None}
    assert params["additionalProperties"] is False
    assert torchrack("manifest", "check", cwd=root).returncode == 0


def test_manifest_uses_a_declared_params_schema(isolated: Path) -> None:
    torchrack("new-plugin", "acme-losses", "--kind", "loss", cwd=isolated)
    root = isolated / "acme-losses"
    code = root / "src/acme_losses/smoothed_ce.py"
    schema = {"type": "object", "additionalProperties": False,
              "properties": {"label_smoothing": {"type": "number", "minimum": 0, "maximum": 0.5, "default": 0.1}}}
    code.write_text(code.read_text().replace(
        '    def __init__(self, label_smoothing', f"    params_schema = {schema!r}\n\n    def __init__(self, label_smoothing"
    ))
    check = torchrack("manifest", "check", cwd=root)  # declared: the manifest must hold it verbatim
    assert check.returncode == 1 and "differs from the params_schema the component declares" in check.stdout
    assert torchrack("manifest", "generate", cwd=root).returncode == 0
    written = json.loads((root / "src/acme_losses/torchrack-manifest.json").read_text())
    assert written["components"]["smoothed_ce"]["params"] == schema


def test_check_vets_a_wheel_built_for_an_incompatible_core_without_installing_it(isolated: Path) -> None:
    torchrack("new-plugin", "acme-future", "--kind", "loss", cwd=isolated)
    root = isolated / "acme-future"
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"torchrack>=0.1,<1"', '"torchrack>=99"'))
    wheel = build_wheel(root, isolated / "dist")
    proc = torchrack("check", str(wheel), "--junit", "wheel.xml", cwd=isolated)
    assert proc.returncode == 1, proc.stdout
    assert "incompatible  acme-future 0.1.0" in proc.stdout
    assert "requires torchrack>=99 but torchrack 0.1.0 is installed" in proc.stdout
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.distribution("acme-future")  # vetted, never installed
    failure = ET.parse(isolated / "wheel.xml").getroot().find("testcase/failure")
    assert failure is not None and "torchrack>=99" in failure.get("message", "")


def test_check_passes_a_good_wheel_and_reports_a_broken_one(isolated: Path) -> None:
    torchrack("new-plugin", "acme-good", "--kind", "metric", cwd=isolated)
    good = build_wheel(isolated / "acme-good", isolated / "good")
    proc = torchrack("check", "--strict", "--json", str(good), cwd=isolated)
    assert proc.returncode == 0, proc.stdout
    report = json.loads(proc.stdout)
    assert report["passed"] and report["plugins"][0]["components"] == ["acme-good:error_rate"]

    torchrack("new-plugin", "acme-broken", "--kind", "head", cwd=isolated)
    (isolated / "acme-broken/src/acme_broken/torchrack-manifest.json").write_text('{"api": ">=1"}')
    broken = build_wheel(isolated / "acme-broken", isolated / "broken")
    proc = torchrack("check", str(broken), cwd=isolated)
    assert proc.returncode == 1 and "broken        acme-broken 0.1.0" in proc.stdout
    assert "'components' is a required property" in proc.stdout
    missing = torchrack("check", str(isolated / "nope.whl"), cwd=isolated)
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_check_junit_and_dist_on_what_is_installed(isolated: Path) -> None:
    proc = torchrack("check", "--strict", "--dist", "torchrack-losses", "--dist", "torchrack-heads",
                     "--junit", "check.xml", cwd=isolated)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    suite = ET.parse(isolated / "check.xml").getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "2" and suite.get("failures") == "0"
    assert sorted(c.get("name", "").split()[0] for c in suite.iter("testcase")) == ["torchrack-heads", "torchrack-losses"]
    unknown = torchrack("check", "--dist", "torchrack-nope", cwd=isolated)
    assert unknown.returncode == 2 and "no plugin distribution named torchrack-nope" in unknown.stderr
