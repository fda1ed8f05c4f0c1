"""File hashes of installed components, for run records and lock files (no import needed)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from torchrack.plugins._vetting import ComponentInfo, PluginInfo


def _feed(h: Any, path: Path) -> None:
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)


def tree_sha256(root: str | os.PathLike[str]) -> str:
    """SHA-256 over every regular file under ``root`` (relative path and bytes), skipping
    caches. Symbolic links are hashed as their target path, never followed (a link to
    ``/dev/zero`` or outside the package cannot hang or widen the hash); FIFOs, sockets and
    devices are hashed by name and kind alone; files are read in chunks."""
    h = hashlib.sha256()
    root = Path(root)
    if root.is_file() and not root.is_symlink():
        _feed(h, root)
        return h.hexdigest()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix == ".pyc":
                continue
            h.update(path.relative_to(root).as_posix().encode() + b"\0")
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                h.update(b"link:" + os.readlink(path).encode("utf-8", "surrogateescape"))
            elif stat.S_ISREG(st.st_mode):
                _feed(h, path)
            else:
                h.update(f"special:{stat.S_IFMT(st.st_mode)}".encode())
            h.update(b"\0")
    return h.hexdigest()


def component_sha256(comp: ComponentInfo, plugin: PluginInfo | None) -> str:
    """Hash of the files of the package that provides ``comp`` (its manifest's folder)."""
    if plugin is not None and plugin.manifest_path:
        return tree_sha256(Path(plugin.manifest_path).parent)
    return hashlib.sha256(b"").hexdigest()
