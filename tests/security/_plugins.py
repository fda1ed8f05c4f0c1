"""Small real plugin distributions written into a temporary folder, for end-to-end checks.

Each is a dist-info (METADATA, entry_points.txt, RECORD) plus a package with a manifest and code,
put on ``PYTHONPATH`` of a ``python -m torchrack`` subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "examples" / "digits.toml"

HEAD_CODE = '''
import os
import torch

if os.environ.get("PLANT_IMPORT_MARKER"):
    open(os.environ["PLANT_IMPORT_MARKER"], "w").write("imported")
if os.environ.get("PLANT_IMPORT_ERROR"):
    raise RuntimeError("planted import failure") from KeyError("the chained cause")


class Head(torch.nn.Module):
    def __init__(self, in_features=64, num_classes=10, token="", auth="", fail_at_forward=False):
        super().__init__()
        if os.environ.get("PLANT_CONSTRUCT_ERROR"):
            raise ValueError("planted construction failure")
        self.fc = torch.nn.Linear(in_features, num_classes)
        self.fail_at_forward = fail_at_forward

    def forward(self, x):
        if self.fail_at_forward and x.device.type != "meta" and self.training:  # training, not the dry run
            raise RuntimeError("planted forward failure")
        return self.fc(x)
'''

HOOK_CODE = '''
from torchrack import hookimpl


@hookimpl
def torchrack_epoch_end(run, epoch, metrics):
    raise ValueError("planted hook failure")
'''

HEAD_SPEC: dict[str, Any] = {
    "kind": "head",
    "version": "1.0.0",
    "summary": "A linear head with planted faults, for tests.",
    "params": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "in_features": {"type": "integer", "minimum": 1, "default": 64},
            "num_classes": {"type": "integer", "minimum": 1, "default": 10},
            "token": {"type": "string", "default": ""},
            "auth": {"type": "string", "default": "", "x-sensitive": True},
            "fail_at_forward": {"type": "boolean", "default": False},
        },
    },
    "inputs": {"features": {"shape": ["N", "$in_features"], "dtype": "floating"}},
    "outputs": {"logits": {"shape": ["N", "$num_classes"], "dtype": "floating"}},
    "devices": ["cpu", "meta"],
}


def write_dist(site: Path, dist: str, *, heads: dict[str, str] | None = None,
               hooks: dict[str, str] | None = None, code: str = HEAD_CODE,
               requires: str = "torchrack>=0.1,<1") -> Path:
    """A distribution ``dist`` with head components (name -> attr) and hook modules."""
    pkg_name = dist.replace("-", "_")
    pkg = site / pkg_name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(code)
    manifest: dict[str, Any] = {"manifest_version": 1, "api": ">=1,<2", "components": {}}
    eps = []
    if heads:
        eps.append("[torchrack.heads]")
        for name, attr in heads.items():
            manifest["components"][name] = HEAD_SPEC
            eps.append(f"{name} = {pkg_name}:{attr}")
    if hooks:
        manifest["hooks"] = {}
        eps.append("[torchrack.hooks]")
        for name, module_code in hooks.items():
            (pkg / f"{name}.py").write_text(module_code)
            manifest["hooks"][name] = {"summary": "a test hook"}
            eps.append(f"{name} = {pkg_name}.{name}")
    (pkg / "torchrack-manifest.json").write_text(json.dumps(manifest))
    info = site / f"{pkg_name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\nRequires-Dist: {requires}\n"
        "Requires-Dist: torch>=2.4\n")
    (info / "entry_points.txt").write_text("\n".join(eps) + "\n")
    (info / "RECORD").write_text("")
    return pkg


def torchrack(*args: str, cwd: Path, site: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "TORCHRACK_CACHE_DIR": str(cwd / ".cache"), **(env or {})}
    for key in ("TORCHRACK_STORE", "TORCHRACK_DENY", "TORCHRACK_ALLOW", "TORCHRACK_STRICT"):
        if key not in (env or {}):
            full.pop(key, None)
    if site is not None:
        full["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-m", "torchrack", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=timeout)


def config_with_head(tmp: Path, head: str, params: dict[str, Any] | None = None,
                     epochs: int = 1, extra: str = "") -> Path:
    """The digits demo with ``head`` as its head (and fewer epochs)."""
    text = DIGITS.read_text().replace("epochs = 12", f"epochs = {epochs}")
    inline = ", ".join(f"{k} = {json.dumps(v)}" for k, v in {"in_features": 64, "num_classes": 10,
                                                              **(params or {})}.items())
    text = text.replace('head = { name = "linear", params = { in_features = 64, num_classes = 10 } }',
                        f'head = {{ name = "{head}", params = {{ {inline} }} }}')
    assert head in text
    path = tmp / "exp.toml"
    path.write_text(text + extra)
    return path
