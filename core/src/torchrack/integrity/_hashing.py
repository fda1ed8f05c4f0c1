"""File hashes of installed components, for run records and lock files (no import needed)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from torchrack.plugins._vetting import ComponentInfo, PluginInfo


def tree_sha256(root: str | os.PathLike[str]) -> str:
    """SHA-256 over every file under ``root`` (relative path and bytes), skipping caches."""
    h = hashlib.sha256()
    root = Path(root)
    if root.is_file():
        h.update(root.read_bytes())
        return h.hexdigest()
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file() or path.suffix == ".pyc":
            continue
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def component_sha256(comp: ComponentInfo, plugin: PluginInfo | None) -> str:
    """Hash of the files of the package that provides ``comp`` (its manifest's folder)."""
    if plugin is not None and plugin.manifest_path:
        return tree_sha256(Path(plugin.manifest_path).parent)
    return hashlib.sha256(b"").hexdigest()
