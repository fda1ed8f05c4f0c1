"""A plugin distribution written straight into a folder laid out like ``site-packages``.

The toolkit tests use it for components with planted faults: :func:`write_plugin` writes
``<dist>-<version>.dist-info`` (METADATA, entry_points.txt) and a package holding the components'
code and ``torchrack-manifest.json``. In-process, put the folder on ``sys.path`` (the
``fake_site`` fixture does) and discover with ``Registry.discover(path=[folder])``; in a
subprocess, put it on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

TORCH = metadata.version("torch").split("+")[0]

GROUPS = {
    "dataset": "torchrack.datasets",
    "augmentation": "torchrack.augmentations",
    "backbone": "torchrack.backbones",
    "head": "torchrack.heads",
    "loss": "torchrack.losses",
    "metric": "torchrack.metrics",
    "accelerator": "torchrack.accelerators",
    "optimizer": "torchrack.optimizers",
    "scheduler": "torchrack.schedulers",
}

IMAGES = {"shape": ["N", "C", "H", "W"], "dtype": "floating"}
LABELS = {"shape": ["N"], "dtype": "int64"}
LOGITS = {"shape": ["N", "K"], "dtype": "floating"}


def spec(kind: str, cls: str, params: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A manifest entry (with ``"class"``, the attribute in ``components.py``, popped on write)."""
    props = {k: {"type": "integer" if isinstance(v, int) else "number", "default": v}
             for k, v in (params or {}).items()}
    entry: dict[str, Any] = {
        "class": cls,
        "kind": kind,
        "version": "1.0.0",
        "summary": f"{cls}, a test {kind}.",
        "params": {"type": "object", "additionalProperties": False, "properties": props},
        "devices": ["cpu", "meta"],
    }
    entry.update(extra)
    return entry


def write_plugin(site: Path, dist: str, code: str, components: dict[str, dict[str, Any]],
                 requires: tuple[str, ...] = ("torchrack>=0.1,<1", "torch>=2.4")) -> str:
    """Write distribution ``dist`` 1.0 into ``site``; return its package name."""
    package = dist.replace("-", "_")
    torch_info = site / f"torch-{TORCH}.dist-info"  # discovery limited to `site` must see torch
    if not torch_info.exists():
        torch_info.mkdir(parents=True)
        (torch_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {TORCH}\n\n")
    info = site / f"{package}-1.0.dist-info"
    info.mkdir(parents=True)
    meta = ["Metadata-Version: 2.1", f"Name: {dist}", "Version: 1.0"]
    meta += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(meta) + "\n\n")
    groups: dict[str, list[str]] = {}
    manifest: dict[str, Any] = {"manifest_version": 1, "api": ">=1,<2", "components": {}}
    for name, entry in components.items():
        entry = dict(entry)
        cls = entry.pop("class")
        groups.setdefault(GROUPS[entry["kind"]], []).append(f"{name} = {package}.components:{cls}")
        manifest["components"][name] = entry
    (info / "entry_points.txt").write_text(
        "".join(f"[{g}]\n" + "\n".join(lines) + "\n\n" for g, lines in groups.items())
    )
    (info / "RECORD").write_text("")
    pkg = site / package
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "components.py").write_text(code)
    (pkg / "torchrack-manifest.json").write_text(json.dumps(manifest, indent=2))
    return package
