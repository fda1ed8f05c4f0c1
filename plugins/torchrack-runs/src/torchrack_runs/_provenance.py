"""What a component's result depends on beyond its own files: the libraries its distribution
wraps, and the data its params point to. Both are read without importing anything.

- :func:`wrapped_versions`: the installed version of every library in the distribution's
  ``Requires-Dist`` (transformers, timm, Pillow, numpy, ...), read from installed metadata, except torchrack's own
  distributions and torch (recorded on their own). A library that is required but not installed
  is recorded as None; one that only an extra requires (``timm`` of ``torchrack-timm[timm]``) is
  recorded when it is installed.
- :func:`data_sha256`: for each param whose schema marks it ``"x-data": "file"`` or
  ``"x-data": "folder"``, the SHA-256 of that file or of every file under that folder
  (:func:`torchrack.integrity.tree_sha256`: relative paths and bytes; links hashed as their
  target path), or None when the value names no existing path. A folder is hashed once per
  process for as long as no file in it changes size, modification time or inode.

Run records and lock files carry both (``wraps`` and ``data_sha256`` of each component), so
``torchrack run --locked`` refuses a changed library or a changed data folder.
"""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from torchrack.integrity import tree_sha256
from torchrack.plugins import PluginInfo

#: Param-schema keyword marking a param as a data path, and the values it takes.
DATA_KEYWORD = "x-data"
DATA_KINDS = ("file", "folder")

#: Requirements never listed as wrapped: recorded elsewhere (torch in the environment and the
#: lock's ``torch``; torchrack distributions as components or the lock's ``torchrack``).
_OWN = ("torch", "torchrack")

_digests: dict[tuple[str, tuple[Any, ...]], str] = {}


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def wrapped_versions(plugin: PluginInfo | None) -> dict[str, str | None]:
    """Library name (as the installed distribution spells it: ``Pillow``) -> its installed
    version, or None (named as the requirement spells it) when it is not installed."""
    from packaging.requirements import InvalidRequirement, Requirement

    out: dict[str, str | None] = {}
    for text in plugin.requires if plugin is not None else []:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        name = _canonical(req.name)
        if name in _OWN or name.startswith("torchrack-"):
            continue
        optional = False
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            extras = re.findall(r"""extra\s*==\s*['"]([^'"]+)['"]""", str(req.marker))
            if not any(req.marker.evaluate({"extra": e}) for e in extras):
                continue  # a requirement for another Python or platform
            optional = True  # an extra's requirement: recorded when installed
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            if not optional:
                out[req.name] = None
            continue
        out[dist.metadata["Name"] or req.name] = dist.version
    return dict(sorted(out.items(), key=lambda kv: _canonical(kv[0])))


def data_params(params_schema: dict[str, Any]) -> list[str]:
    """The params a component's schema marks as data paths (``"x-data"``)."""
    props = params_schema.get("properties", {}) if isinstance(params_schema, dict) else {}
    return [name for name, prop in props.items()
            if isinstance(prop, dict) and prop.get(DATA_KEYWORD) in DATA_KINDS]


def _fingerprint(path: Path) -> tuple[Any, ...]:
    """Size, modification time and inode of ``path`` and of everything under it (lstat only)."""
    def stamp(p: str) -> tuple[Any, ...]:
        st = os.lstat(p)
        return (p, st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode)

    items = [stamp(str(path))]
    if path.is_dir() and not path.is_symlink():
        for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
            dirnames.sort()
            items.extend(stamp(os.path.join(dirpath, n)) for n in sorted(filenames))
    return tuple(items)


def path_sha256(path: str | os.PathLike[str]) -> str | None:
    """SHA-256 of a file, or of every file under a folder; None when nothing is there."""
    target = Path(path).expanduser().absolute()
    if not target.exists():
        return None
    key = (str(target), _fingerprint(target))
    digest = _digests.get(key)
    if digest is None:
        digest = _digests[key] = tree_sha256(target)
    return digest


def data_sha256(params_schema: dict[str, Any], params: dict[str, Any]) -> dict[str, str | None]:
    """Param name -> content hash of the path it names, for each data param given a string."""
    return {name: path_sha256(params[name]) for name in data_params(params_schema)
            if isinstance(params.get(name), str)}
