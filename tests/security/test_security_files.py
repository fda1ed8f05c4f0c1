"""Files that are not what they claim: FIFOs, devices, links and bad bytes where metadata, locks
and hashed packages should be. Nothing may block, crash or read outside (issue: hardening)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo (POSIX)")


def _dist(site: Path, name: str, metadata: bytes | None, entry_points: bytes | None) -> Path:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    pkg = site / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "torchrack-manifest.json").write_text(json.dumps({"manifest_version": 1, "api": ">=1,<2",
                                                             "components": {}}))
    for fname, content in (("METADATA", metadata), ("entry_points.txt", entry_points)):
        if content is None:
            os.mkfifo(info / fname)
        else:
            (info / fname).write_bytes(content)
    return info


@pytest.mark.parametrize("metadata,entry_points", [
    (None, b"[torchrack.commands]\nx = odd_a.cli\n"),  # METADATA is a FIFO
    (b"Metadata-Version: 2.1\nName: odd-b\nVersion: 1.0\n", None),  # entry_points.txt is a FIFO
    (b"Metadata-Version: 2.1\nName: odd\xff\xfe-c\nVersion: 1.0\n", b"[torchrack.commands]\nx = odd_c.cli\n"),
    (b"Metadata-Version: 2.1\nName: odd-d\nVersion: 1.0\n", b"[torchrack.commands]\nx = odd_d.cli\xff\n"),
])
def test_discovery_never_blocks_or_crashes_on_odd_metadata_files(tmp_path: Path, metadata: bytes | None,
                                                                  entry_points: bytes | None) -> None:
    site = tmp_path / "site"
    _dist(site, "odd_x", metadata, entry_points)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TORCHRACK_")},
           "PYTHONPATH": str(site), "TORCHRACK_CACHE_DIR": str(tmp_path / "cache")}
    for args in (["list", "--json"], ["check", "--static", "--json"]):
        done = subprocess.run([sys.executable, "-m", "torchrack", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
        assert json.loads(done.stdout)["plugins"] is not None


def test_a_lock_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    from torchrack.integrity import InvalidLockError, read_lock

    fifo = tmp_path / "x.lock"
    os.mkfifo(fifo)
    with pytest.raises(InvalidLockError, match="not a regular file"):
        read_lock(fifo)


def test_package_hashes_follow_no_link_and_read_no_device(tmp_path: Path) -> None:
    from torchrack.integrity import tree_sha256

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    first = tree_sha256(pkg)
    (pkg / "zero").symlink_to("/dev/zero")
    (pkg / "outside").symlink_to(tmp_path)
    os.mkfifo(pkg / "pipe")
    second = tree_sha256(pkg)  # returns at once: nothing is followed or opened
    assert second != first
    (tmp_path / "elsewhere.txt").write_text("changes outside the package do not count")
    assert tree_sha256(pkg) == second
    (pkg / "a.py").write_text("x = 2\n")
    assert tree_sha256(pkg) != second
