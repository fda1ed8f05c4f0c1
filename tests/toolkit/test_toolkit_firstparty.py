"""Every first-party plugin passes `pytest --torchrack-conformance`, with nothing skipped.

Two components need a file to be built at all (tensor_file's `path`, checkpoint's `path`); the
test gives them one through `[tool.torchrack.conformance.params]`, as a plugin author would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _installed(dist: str) -> bool:
    try:
        metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


#: every first-party plugin folder whose distribution is installed here
FIRST_PARTY = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file() and _installed(p.name))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    import numpy as np
    import torch
    from torchrack import Registry

    data = tmp_path / "tiny.npz"
    gen = np.random.default_rng(0)
    np.savez(data, inputs=gen.random((20, 1, 8, 8), dtype=np.float32), targets=np.arange(20) % 4)
    weights = tmp_path / "small_cnn.pt"
    torch.save(Registry.discover().get("backbone", "torchrack-backbones:small_cnn")(in_channels=3).state_dict(),
               weights)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.torchrack.conformance.params]\n"
        f'"torchrack-datasets:tensor_file" = {{path = "{data}"}}\n'
        f'"torchrack-backbones:checkpoint" = {{path = "{weights}", backbone_params = {{in_channels = 3}}}}\n'
    )
    return tmp_path


def test_first_party_plugins_pass_conformance(project: Path) -> None:
    args = [sys.executable, "-m", "pytest", "--torchrack-conformance", "-p", "no:cacheprovider", "-q", "-rfs"]
    for dist in FIRST_PARTY:
        args += ["--torchrack-dist", dist]
    env = {**os.environ, "TORCHRACK_CACHE_DIR": str(project / "cache")}
    proc = subprocess.run(args, cwd=project, capture_output=True, text=True, env=env, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    m = re.search(r"torchrack conformance: (\d+) checks ran of (\d+) \((.*)\)", out)
    assert m, out[-3000:]
    ran, total = int(m[1]), int(m[2])
    assert ran == total and m[3] == f"{total} passed", m[0]
    assert len(FIRST_PARTY) >= 6 and ran > 200  # a manifest check per plugin + every applicable check
    print(m[0])
