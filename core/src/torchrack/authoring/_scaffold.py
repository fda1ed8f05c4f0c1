"""``torchrack new-plugin``: write a complete plugin distribution for one component kind.

The result installs with pip and, as it is, passes its own tests (behaviour, conformance, manifest
drift) and ``torchrack check --strict``: pyproject.toml (hatchling, the entry point, the
``torchrack`` and ``torch`` ranges), the package with its component and
``torchrack-manifest.json``, tests, a README and a CI workflow. Nothing is imported to write it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from torchrack._errors import TorchrackError
from torchrack._kinds import GROUPS, KINDS, normalize_kind
from torchrack.authoring._templates import (
    BEHAVIOUR_TEST,
    CI,
    CODE,
    CONFORMANCE_TEST,
    DEFAULT_COMPONENT,
    GITIGNORE,
    MANIFEST,
    MANIFEST_TEST,
    PYPROJECT,
    README,
    SUMMARY,
)

_DIST = re.compile(r"^[A-Za-z][A-Za-z0-9]*([._-][A-Za-z0-9]+)*$")
_COMPONENT = re.compile(r"^[a-z][a-z0-9_]*$")


class ScaffoldError(TorchrackError, ValueError):
    """A name, kind or target folder that a plugin cannot be written with."""


def package_name(dist: str) -> str:
    """The import name of distribution ``dist``: ``acme-losses`` -> ``acme_losses``."""
    return re.sub(r"[-.]+", "_", dist).lower()


def _class_name(component: str) -> str:
    return "".join(part.capitalize() for part in component.split("_"))


def manifest_for(kind: str, component: str) -> dict[str, object]:
    """The manifest of a new plugin with one ``kind`` component named ``component``."""
    spec = MANIFEST[kind]
    entry: dict[str, object] = {
        "kind": kind,
        "version": "0.1.0",
        "summary": SUMMARY[kind],
        "params": {"type": "object", "additionalProperties": False, "properties": spec["params"]},
    }
    if spec["inputs"]:
        entry["inputs"] = spec["inputs"]
    if spec["outputs"]:
        entry["outputs"] = spec["outputs"]
    entry["devices"] = spec["devices"]
    return {"manifest_version": 1, "api": ">=1,<2", "components": {component: entry}}


def new_plugin(
    name: str, kind: str, directory: str | os.PathLike[str] = ".", component: str | None = None
) -> tuple[Path, list[Path]]:
    """Write distribution ``name`` with one ``kind`` component into ``directory/name``.

    Returns the project folder and the files written. Refuses a folder that exists and is not
    empty, so nothing is ever overwritten.
    """
    if not _DIST.match(name):
        raise ScaffoldError(
            f"invalid distribution name {name!r}: use letters, digits and single '-', '_' or '.' "
            "between them, starting with a letter (e.g. acme-losses)"
        )
    norm = normalize_kind(kind)
    if norm is None:
        raise ScaffoldError(f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)}")
    default_name, default_class = DEFAULT_COMPONENT[norm]
    component = component or default_name
    if not _COMPONENT.match(component):
        raise ScaffoldError(
            f"invalid component name {component!r}: lowercase letters, digits and '_', starting with a letter"
        )
    cls = default_class if component == default_name else _class_name(component)
    package = package_name(name)
    root = Path(directory) / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ScaffoldError(f"{root} already exists and is not empty; choose another --dir or name")

    tokens = {
        "__DIST__": name, "__PACKAGE__": package, "__NAME__": component, "__CLASS__": cls,
        "__KIND__": norm, "__GROUP__": GROUPS[norm],
    }

    def fill(text: str) -> str:
        for token, value in tokens.items():
            text = text.replace(token, value)
        return text

    pkg = Path("src") / package
    files: dict[Path, str] = {
        Path("pyproject.toml"): fill(PYPROJECT),
        Path("README.md"): fill(README),
        Path(".gitignore"): GITIGNORE,
        Path(".github/workflows/ci.yml"): fill(CI),
        pkg / "__init__.py": f'"""{name}: a torchrack plugin."""\n\n__version__ = "0.1.0"\n',
        pkg / "py.typed": "",
        pkg / f"{component}.py": fill(CODE[norm]),
        pkg / "torchrack-manifest.json": json.dumps(manifest_for(norm, component), indent=2) + "\n",
        Path("tests") / "test_conformance.py": fill(CONFORMANCE_TEST),
        Path("tests") / "test_manifest.py": MANIFEST_TEST,
        Path("tests") / f"test_{component}.py": fill(BEHAVIOUR_TEST[norm]),
    }
    written = []
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return root, written
