"""Fake plugin distributions in a temporary folder, for the core's tests.

A :class:`FakeSite` is a folder laid out like ``site-packages``: each :meth:`FakeSite.add` writes
``<dist>-<version>.dist-info/`` (METADATA, entry_points.txt, RECORD) and a top-level package with
``torchrack-manifest.json`` and a ``components`` module. In-process tests discover it with
``Registry.discover(path=[site.path])`` (nothing else installed is seen); CLI tests run
``python -m torchrack`` in a subprocess with the folder on ``PYTHONPATH`` (:meth:`FakeSite.cli`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

GROUP_OF_KIND = {
    "dataset": "torchrack.datasets",
    "augmentation": "torchrack.augmentations",
    "backbone": "torchrack.backbones",
    "head": "torchrack.heads",
    "loss": "torchrack.losses",
    "metric": "torchrack.metrics",
    "accelerator": "torchrack.accelerators",
}

INSTALLED_TORCH = metadata.version("torch").split("+")[0]

DEFAULT_CODE = """\
class Component:
    def __init__(self, **params):
        self.params = params
"""

#: Sentinel: write the manifest that matches the components (the default).
AUTO = object()


def component(kind: str = "loss", version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    """A manifest component entry that validates against the manifest schema."""
    spec: dict[str, Any] = {
        "kind": kind,
        "version": version,
        "summary": f"A test {kind}.",
        "params": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"scale": {"type": "number", "default": 1.0}},
        },
    }
    spec.update(extra)
    return spec


def package_name(dist: str) -> str:
    return dist.replace("-", "_").replace(".", "_").lower()


class FakeSite:
    """A folder of fake distributions; ``path`` goes on ``sys.path`` or ``PYTHONPATH``."""

    def __init__(self, path: Path, cache_dir: Path, cwd: Path, torch_version: str | None) -> None:
        self.path = path
        self.cache_dir = cache_dir
        self.cwd = cwd
        self.packages: list[str] = []
        for p in (path, cache_dir, cwd):
            p.mkdir(parents=True, exist_ok=True)
        if torch_version is not None:  # what in-process discovery reads as "the installed torch"
            info = path / f"torch-{torch_version}.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(
                f"Metadata-Version: 2.1\nName: torch\nVersion: {torch_version}\n"
            )

    def add(
        self,
        dist: str,
        version: str = "1.0.0",
        *,
        components: dict[str, dict[str, Any]] | None = None,
        entry_points: dict[str, dict[str, str]] | None = None,
        hooks: dict[str, str] | None = None,
        requires: list[str] | tuple[str, ...] = ("torchrack>=0.1,<1",),
        manifest: Any = AUTO,
        api: str = ">=1,<2",
        code: str = DEFAULT_CODE,
        manifest_hooks: dict[str, Any] | None = None,
    ) -> Path:
        """Write one distribution; return its package folder.

        ``components`` maps component name -> manifest entry (default: one loss named after the
        distribution). ``entry_points`` (default: derived from ``components``) maps group ->
        {name: value}. ``manifest`` is AUTO (derived), a dict, a raw string, or None (no file).
        """
        pkg = package_name(dist)
        if components is None:
            components = {pkg.split("_")[-1]: component()}
        if entry_points is None:
            entry_points = {}
            for name, spec in components.items():
                group = GROUP_OF_KIND[spec["kind"]]
                entry_points.setdefault(group, {})[name] = f"{pkg}.components:Component"
        if hooks:
            entry_points["torchrack.hooks"] = hooks
        info = self.path / f"{pkg}-{version}.dist-info"
        info.mkdir()
        lines = ["Metadata-Version: 2.1", f"Name: {dist}", f"Version: {version}"]
        lines += [f"Requires-Dist: {r}" for r in requires]
        (info / "METADATA").write_text("\n".join(lines) + "\n\nLong description: Name: not-this\n")
        ep_text = ""
        for group, eps in entry_points.items():
            ep_text += f"[{group}]\n" + "".join(f"{n} = {v}\n" for n, v in eps.items()) + "\n"
        (info / "entry_points.txt").write_text(ep_text)
        package = self.path / pkg
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "components.py").write_text(code)
        files = [f"{pkg}/__init__.py", f"{pkg}/components.py"]
        if manifest is AUTO:
            manifest = {"manifest_version": 1, "api": api, "components": components}
            if manifest_hooks is not None:
                manifest["hooks"] = manifest_hooks
            elif hooks:
                manifest["hooks"] = {name: {"summary": "test hooks"} for name in hooks}
        if manifest is not None:
            text = manifest if isinstance(manifest, str) else json.dumps(manifest, indent=1)
            (package / "torchrack-manifest.json").write_text(text)
            files.append(f"{pkg}/torchrack-manifest.json")
        files += [f"{info.name}/{f}" for f in ("METADATA", "entry_points.txt", "RECORD")]
        (info / "RECORD").write_text("".join(f"{f},,\n" for f in files))
        self.packages.append(pkg)
        return package

    def backdate(self, seconds: float = 60) -> None:
        """Move every mtime into the past: discovery does not cache files changed just now."""
        past = time.time() - seconds
        for folder in (self.path, self.cwd):
            for dirpath, _, files in os.walk(folder):
                for f in files:
                    os.utime(os.path.join(dirpath, f), (past, past))
                os.utime(dirpath, (past, past))

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for a CLI subprocess: the site on PYTHONPATH, a private cache."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHRACK_")}
        env.pop("PYTHONPATH", None)
        env["PYTHONPATH"] = str(self.path)
        env["TORCHRACK_CACHE_DIR"] = str(self.cache_dir)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.update(extra)
        return env

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``python -m torchrack ARGS`` in a subprocess, in the site's working directory."""
        return subprocess.run(
            [sys.executable, "-m", "torchrack", *args],
            cwd=self.cwd,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def python(self, code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``python -c CODE`` like :meth:`cli`."""
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=self.cwd,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
