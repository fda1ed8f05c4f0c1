"""Helpers for the distributed tests: the CLI in a subprocess, a fault-injecting augmentation plugin,
and small configs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DIGITS_DDP = ROOT / "examples" / "digits-ddp.toml"


def torchrack(*args: str, cwd: Path, env: dict[str, str] | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m torchrack ARGS`` in ``cwd`` (own discovery cache; no TORCHRACK_STORE)."""
    full_env = {**os.environ, "TORCHRACK_CACHE_DIR": str(cwd / ".cache"), **(env or {})}
    full_env.pop("TORCHRACK_STORE", None)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        full_env.pop(name, None)  # never inherit a torchrun environment
    return subprocess.run(
        [sys.executable, "-m", "torchrack", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


def show(cwd: Path, run: str = "latest", env: dict[str, str] | None = None,
         store: str | None = None) -> dict[str, Any]:
    """The run record of ``run`` (``torchrack runs show RUN --json``)."""
    extra = ["--store", store] if store else []
    proc = torchrack("runs", "show", run, "--json", *extra, cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    record: dict[str, Any] = json.loads(proc.stdout)
    return record


# An augmentation that does nothing, unless armed through the environment:
#   CHAOS_ACTION=kill|hang|fail, CHAOS_RANK=r (the RANK it acts on), CHAOS_CALL=k (its k-th call).
# Armed by environment rather than params, so that an armed and an unarmed run share one config
# (and a failed run can be resumed with the same config).
_CHAOS = '''
import os
import signal
import time


class Chaos:
    def __init__(self):
        self.calls = 0

    def __call__(self, inputs, targets, generator=None):
        self.calls += 1
        action = os.environ.get("CHAOS_ACTION")
        if (action and os.environ.get("RANK", "0") == os.environ.get("CHAOS_RANK", "1")
                and self.calls == int(os.environ.get("CHAOS_CALL", "3"))):
            if action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            elif action == "hang":
                while True:
                    time.sleep(1)
            elif action == "fail":
                raise RuntimeError("planted augmentation failure")
        return inputs, targets
'''

_ANY_IMAGE = {"shape": ["N", "C", "H", "W"], "dtype": ["floating", "uint8"]}
_ANY_TARGET = {"shape": ["N", "..."], "dtype": "any"}


def chaos_plugin(root: Path) -> Path:
    """Write the ``chaos`` augmentation distribution under ``root/site``; return that folder."""
    site = root / "site"
    pkg = site / "chaos_aug"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(_CHAOS)
    (pkg / "torchrack-manifest.json").write_text(json.dumps({
        "manifest_version": 1, "api": ">=1,<2",
        "components": {"chaos": {
            "kind": "augmentation", "version": "1.0.0",
            "summary": "Identity; kills, hangs or fails one rank when armed by CHAOS_* (tests).",
            "params": {"type": "object", "additionalProperties": False, "properties": {}},
            "inputs": {"inputs": _ANY_IMAGE, "targets": _ANY_TARGET},
            "outputs": {"inputs": _ANY_IMAGE, "targets": _ANY_TARGET},
            "devices": ["cpu", "cuda", "meta"],
        }},
    }))
    info = site / "chaos_aug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: chaos-aug\nVersion: 1.0\nRequires-Dist: torchrack>=0.1\n")
    (info / "entry_points.txt").write_text("[torchrack.augmentations]\nchaos = chaos_aug:Chaos\n")
    (info / "RECORD").write_text("")
    return site


def parity_config(*, accelerator: str | None, train_size: int = 117, batch_size: int = 32,
                  epochs: int = 1) -> str:
    """A small synthetic task, a CNN without batch norm, plain SGD: a few deterministic steps."""
    text = f"""
schema_version = 1

[run]
name = "parity"
seed = 3
epochs = {epochs}

[data]
dataset = {{ name = "synthetic_images", params = {{ channels = 1, height = 8, width = 8, num_classes = 4, train_size = {train_size}, test_size = 40 }} }}
batch_size = {batch_size}

[model]
backbone = {{ name = "small_cnn", params = {{ in_channels = 1, widths = [8, 16], norm = "none" }} }}
head = {{ name = "linear", params = {{ in_features = 16, num_classes = 4 }} }}

[loss]
name = "cross_entropy"

[optimizer]
name = "sgd"
params = {{ lr = 0.1, momentum = 0.9 }}

[[metrics]]
name = "accuracy"
"""
    if accelerator is not None:
        text += f'\n[accelerator]\nname = "{accelerator}"\nparams = {{ timeout = 60 }}\n'
    return text


def chaos_digits_config(timeout: float = 60, epochs: int = 3) -> str:
    """The digits-ddp demo with the chaos augmentation first, fewer epochs, a short timeout."""
    text = DIGITS_DDP.read_text()
    text = text.replace("epochs = 12", f"epochs = {epochs}")
    text = text.replace("timeout = 300", f"timeout = {timeout}")
    text = text.replace("[[augment]]", '[[augment]]\nname = "chaos"\n\n[[augment]]', 1)
    assert 'name = "chaos"' in text and f"timeout = {timeout}" in text
    return text
