"""Every first-party plugin passes `pytest --torchrack-conformance`, with nothing skipped but timm
where it cannot be imported (saying so).

Components that need data or a model to be built at all (tensor_file, mnist, cifar10,
image_folder, checkpoint, hf_vision) get tiny ones, written here, through
`[tool.torchrack.conformance.params]`, as a plugin author would.
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


def _idx(array: object) -> bytes:
    import struct

    import numpy as np

    a = np.asarray(array)
    return bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def _data(root: Path) -> dict[str, str]:
    """Tiny files in each first-party dataset's format: tensor_file, mnist (IDX), cifar10 (binary
    batches), image_folder (PNG class folders). Returns component -> TOML params."""
    import numpy as np

    gen = np.random.default_rng(0)
    np.savez(root / "tiny.npz", inputs=gen.random((20, 1, 8, 8), dtype=np.float32), targets=np.arange(20) % 4)
    mnist = root / "mnist"
    mnist.mkdir()
    for prefix, n in (("train", 12), ("t10k", 5)):
        (mnist / f"{prefix}-images-idx3-ubyte").write_bytes(_idx(gen.integers(0, 256, (n, 28, 28), dtype=np.uint8)))
        (mnist / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(np.arange(n, dtype=np.uint8) % 10))
    cifar = root / "cifar-10-batches-bin"
    cifar.mkdir()
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = [bytes([k % 10]) + gen.integers(0, 256, 3 * 32 * 32, dtype=np.uint8).tobytes() for k in range(3)]
        (cifar / name).write_bytes(b"".join(records))
    params = {"torchrack-datasets:tensor_file": f'{{path = "{root / "tiny.npz"}"}}',
              "torchrack-datasets:mnist": f'{{root = "{mnist}"}}',
              "torchrack-datasets:cifar10": f'{{root = "{cifar}"}}'}
    try:
        from PIL import Image
    except ImportError:  # torchrack-datasets requires Pillow: then image_folder is not installed
        return params
    for cls in ("cat", "dog"):
        (root / "images" / cls).mkdir(parents=True)
        for k in range(3):
            Image.fromarray(gen.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(root / "images" / cls / f"{k}.png")
    params["torchrack-datasets:image_folder"] = f'{{root = "{root / "images"}", size = 16, test_fraction = 0.34}}'
    return params


def _hf_model(root: Path) -> str | None:
    """A tiny random ResNet written by save_pretrained (nothing downloaded), for hf_vision."""
    try:
        import torch
        import transformers
    except ImportError:
        return None
    torch.manual_seed(0)
    config = transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1])
    transformers.AutoModel.from_config(config).save_pretrained(root / "hf-resnet")
    return str(root / "hf-resnet")


#: The compile check runs in the first-party suite (`compile = true`); components known not to
#: compile yet would be declared here, each with its reason (strict: removed when the fix lands).
COMPILE_XFAIL: dict[str, str] = {}

#: Skips allowed, each with the reason that must be given: timm imports torchvision, whose wheel
#: on the package index needs a CUDA torch, so on CPU-only machines timm cannot be imported (its
#: tests run on the GPU machine).
ALLOWED_SKIP = re.compile(r"torchrack-timm:timm .*(needs params|cannot be imported|ModuleNotFoundError)")


def _timm_importable() -> bool:
    try:
        import timm  # noqa: F401
    except Exception:  # noqa: BLE001 - ImportError, or torchvision's operator error
        return False
    return True


@pytest.fixture
def project(tmp_path: Path) -> Path:
    import torch
    from torchrack import Registry

    weights = tmp_path / "small_cnn.pt"
    torch.save(Registry.discover().get("backbone", "torchrack-backbones:small_cnn")(in_channels=3).state_dict(),
               weights)
    params = _data(tmp_path)
    params["torchrack-backbones:checkpoint"] = f'{{path = "{weights}", backbone_params = {{in_channels = 3}}}}'
    model = _hf_model(tmp_path)
    if model is not None:
        params["torchrack-hf:hf_vision"] = f'{{model = "{model}"}}'
    if _timm_importable():  # the GPU machine: a small timm model, random weights
        params["torchrack-timm:timm"] = '{model = "resnet18"}'
    xfail = "".join(f'"{k}" = "{v}"\n' for k, v in COMPILE_XFAIL.items())
    (tmp_path / "pyproject.toml").write_text(
        "[tool.torchrack.conformance]\ncompile = true\n"
        + ("[tool.torchrack.conformance.xfail]\n" + xfail if xfail else "") +
        "[tool.torchrack.conformance.params]\n" + "".join(f'"{k}" = {v}\n' for k, v in params.items()))
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
    skips = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    unexpected = [line for line in skips if _timm_importable() or not ALLOWED_SKIP.search(line)]
    assert not unexpected, "\n".join(unexpected)
    skipped = sum(int(re.match(r"SKIPPED \[(\d+)\]", line)[1]) for line in skips)  # type: ignore[index]
    xfailed = len(COMPILE_XFAIL)
    assert ran + skipped == total and m[3] == (
        f"{ran - xfailed} passed" + (f", {skipped} skipped" if skipped else "")
        + (f", {xfailed} xfailed" if xfailed else "")), m[0]
    from torchrack.testing import conformance_cases, load_config

    cases = conformance_cases(FIRST_PARTY, config=load_config(project / "pyproject.toml"))
    compiled = sum(c.check == "compile" for c in cases)
    assert compiled >= 30 and total == len(cases), (compiled, total, len(cases))  # the compile checks ran too
    assert len(FIRST_PARTY) >= 6 and ran > 200  # a manifest check per plugin + every applicable check
    print(m[0], "(skipped only: timm, which cannot be imported here)" if skipped else "")
