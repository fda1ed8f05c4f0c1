"""``torchrack new-plugin``: write a complete plugin distribution for one component kind.

The result installs with pip and, as it is, passes its own tests (behaviour, conformance, manifest
drift) and ``torchrack check --strict``: pyproject.toml (hatchling, the entry point, the
``torchrack`` and ``torch`` ranges), the package with its component and
``torchrack-manifest.json``, tests, a README and a CI workflow. Nothing is imported to write it.

The files are templates shipped with torchrack as package data, in ``templates/`` next to this
module (read with :mod:`importlib.resources`, so from a wheel as from a checkout):

- ``templates/project/``: what every kind shares (``pyproject.toml.tmpl``, ``README.md.tmpl``,
  ``gitignore.tmpl``, ``ci.yml.tmpl``, the package's ``__init__`` and ``py.typed``, the
  conformance and manifest tests);
- ``templates/<kind>/``: the component (``component.py``), its behaviour test (``behaviour.py``)
  and its manifest (``torchrack-manifest.json``).

:data:`TEMPLATES` says where each is written. Tokens replaced on write: ``__DIST__``
(distribution name), ``__PACKAGE__`` (import name), ``__NAME__`` (component name), ``__CLASS__``
(its class), ``__KIND__``, ``__GROUP__`` (its entry-point group). The Python templates are valid
Python (the tokens are identifiers), linted and type-checked with the core.
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path

from torchrack._errors import TorchrackError
from torchrack._kinds import GROUPS, normalize_kind, unknown_kind

#: kind -> default component name and class name.
DEFAULT_COMPONENT: dict[str, tuple[str, str]] = {
    "dataset": ("blobs", "Blobs"),
    "augmentation": ("random_invert", "RandomInvert"),
    "backbone": ("tiny_cnn", "TinyCNN"),
    "head": ("linear_probe", "LinearProbe"),
    "loss": ("smoothed_ce", "SmoothedCrossEntropy"),
    "metric": ("error_rate", "ErrorRate"),
    "accelerator": ("cpu_threads", "CPUThreads"),
    "optimizer": ("sign_sgd", "SignSGD"),
    "scheduler": ("linear_decay", "LinearDecay"),
    "calibrator": ("golden_temperature", "GoldenTemperature"),
    "adapter": ("channel_mean", "ChannelMean"),
}

#: template (under ``templates/``; ``{kind}`` is the component's kind) -> where it is written in
#: the new project (tokens filled), in the order they are written.
TEMPLATES: dict[str, str] = {
    "project/pyproject.toml.tmpl": "pyproject.toml",
    "project/README.md.tmpl": "README.md",
    "project/gitignore.tmpl": ".gitignore",
    "project/ci.yml.tmpl": ".github/workflows/ci.yml",
    "project/package_init.py": "src/__PACKAGE__/__init__.py",
    "project/py.typed.tmpl": "src/__PACKAGE__/py.typed",
    "{kind}/component.py": "src/__PACKAGE__/__NAME__.py",
    "{kind}/torchrack-manifest.json": "src/__PACKAGE__/torchrack-manifest.json",
    "project/conformance.py": "tests/test_conformance.py",
    "project/manifest_drift.py": "tests/test_manifest.py",
    "{kind}/behaviour.py": "tests/test___NAME__.py",
}

_DIST = re.compile(r"^[A-Za-z][A-Za-z0-9]*([._-][A-Za-z0-9]+)*$")
_COMPONENT = re.compile(r"^[a-z][a-z0-9_]*$")


class ScaffoldError(TorchrackError, ValueError):
    """A name, kind or target folder that a plugin cannot be written with."""


def package_name(dist: str) -> str:
    """The import name of distribution ``dist``: ``acme-losses`` -> ``acme_losses``."""
    return re.sub(r"[-.]+", "_", dist).lower()


def _class_name(component: str) -> str:
    return "".join(part.capitalize() for part in component.split("_"))


def _kind(kind: str) -> str:
    norm = normalize_kind(kind)
    if norm is None:
        raise ScaffoldError(unknown_kind(kind))
    return norm


def read_template(template: str) -> str:
    """The text of ``template``, a path under ``templates/`` such as ``"loss/component.py"``."""
    node = resources.files("torchrack.authoring").joinpath("templates")
    for part in template.split("/"):
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


def _fill(text: str, tokens: dict[str, str]) -> str:
    for token, value in tokens.items():
        text = text.replace(token, value)
    return text


def manifest_for(kind: str, component: str) -> dict[str, object]:
    """The manifest of a new plugin with one ``kind`` component named ``component``."""
    manifest: dict[str, object] = json.loads(
        _fill(read_template(f"{_kind(kind)}/torchrack-manifest.json"), {"__NAME__": component})
    )
    return manifest


def render_plugin(name: str, kind: str, component: str | None = None) -> dict[Path, str]:
    """The files of distribution ``name`` with one ``kind`` component: relative path -> text.

    Validates the names and kind (:class:`ScaffoldError`); writes nothing (see :func:`new_plugin`).
    """
    if not _DIST.match(name):
        raise ScaffoldError(
            f"invalid distribution name {name!r}: use letters, digits and single '-', '_' or '.' "
            "between them, starting with a letter (e.g. acme-losses)"
        )
    norm = _kind(kind)
    default_name, default_class = DEFAULT_COMPONENT[norm]
    component = component or default_name
    if not _COMPONENT.match(component):
        raise ScaffoldError(
            f"invalid component name {component!r}: lowercase letters, digits and '_', starting with a letter"
        )
    tokens = {
        "__DIST__": name,
        "__PACKAGE__": package_name(name),
        "__NAME__": component,
        "__CLASS__": default_class if component == default_name else _class_name(component),
        "__KIND__": norm,
        "__GROUP__": GROUPS[norm],
    }
    files: dict[Path, str] = {}
    for template, target in TEMPLATES.items():
        text = _fill(read_template(template.format(kind=norm)), tokens)
        if target.endswith(".json"):  # one layout for every manifest written
            text = json.dumps(json.loads(text), indent=2) + "\n"
        files[Path(_fill(target, tokens))] = text
    return files


def new_plugin(
    name: str, kind: str, directory: str | os.PathLike[str] = ".", component: str | None = None
) -> tuple[Path, list[Path]]:
    """Write distribution ``name`` with one ``kind`` component into ``directory/name``.

    Returns the project folder and the files written. Refuses a folder that exists and is not
    empty, so nothing is ever overwritten.
    """
    files = render_plugin(name, kind, component)
    root = Path(directory) / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ScaffoldError(f"{root} already exists and is not empty; choose another --dir or name")
    written = []
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return root, written
