"""`torchrack verify`: installed plugin files are checked against RECORD and against a lock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ._plugins import DIGITS, ROOT, torchrack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed_heads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """torchrack-heads installed from its folder as a regular (non-editable) wheel install."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(ROOT / "plugins" / "torchrack-heads")],
        check=True, capture_output=True,
    )
    return site


def test_an_untouched_install_verifies(installed_heads: Path, tmp_path: Path) -> None:
    proc = torchrack("verify", "--dist", "torchrack-heads", "--json", cwd=tmp_path, site=installed_heads)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [entry] = json.loads(proc.stdout)["distributions"]
    assert entry["status"] == "verified" and entry["checked_files"] > 3


def test_a_changed_file_fails_verify_naming_it(installed_heads: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(["cp", "-a", str(installed_heads), str(site)], check=True)
    target = site / "torchrack_heads" / "linear.py"
    target.write_text(target.read_text() + "\n# tampered\n")
    (site / "torchrack_heads" / "extra.py").write_text("print('hi')\n")
    proc = torchrack("verify", "--dist", "torchrack-heads", cwd=tmp_path, site=site)
    assert proc.returncode == 1
    assert "modified: torchrack_heads/linear.py" in proc.stdout
    assert "unexpected: torchrack_heads/extra.py" in proc.stdout
    (site / "torchrack_heads" / "cosine.py").unlink()
    proc = torchrack("verify", "--dist", "torchrack-heads", cwd=tmp_path, site=site)
    assert "missing: torchrack_heads/cosine.py" in proc.stdout


def test_editable_installs_are_unverifiable_not_passing(tmp_path: Path) -> None:
    proc = torchrack("verify", "--dist", "torchrack-losses", "--json", cwd=tmp_path)
    [entry] = json.loads(proc.stdout)["distributions"]
    assert entry["status"] == "unverifiable" and "editable" in entry["note"]


def test_verify_against_a_lock_reports_changed_component_files(installed_heads: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(["cp", "-a", str(installed_heads), str(site)], check=True)
    lock = tmp_path / "exp.lock"
    assert torchrack("lock", str(DIGITS), "-o", str(lock), cwd=tmp_path, site=site).returncode == 0
    ok = torchrack("verify", "--dist", "torchrack-heads", "--lock", str(lock), cwd=tmp_path, site=site)
    assert ok.returncode == 0, ok.stdout
    # Re-installing a modified release keeps RECORD consistent, but no longer matches the lock.
    target = site / "torchrack_heads" / "linear.py"
    target.write_text(target.read_text() + "\n# a different release\n")
    proc = torchrack("verify", "--dist", "torchrack-heads", "--lock", str(lock), cwd=tmp_path, site=site)
    assert proc.returncode == 1
    assert "model.head (head:linear): files_sha256 locked" in proc.stdout
