"""Trust settings: allow and deny lists, read before any plugin is imported.

Sources, lowest precedence first (a later source replaces a key set by an earlier one):

1. ``[tool.torchrack]`` in ``pyproject.toml`` in the working directory;
2. ``torchrack.toml`` in the working directory (top-level keys);
3. the environment: ``TORCHRACK_ALLOW`` / ``TORCHRACK_DENY`` (comma-separated).

An entry is a distribution name (``torchrack-losses``) or ``dist:name`` for one component.
When an allow list is set, everything not on it is denied. Deny wins over allow.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchrack._errors import TorchrackError


class InvalidSettingsError(TorchrackError):
    """A settings file or variable that cannot be read; names the file and key."""


def canonical_dist(name: str) -> str:
    """PEP 503 normalisation of a distribution name (``Acme_Heads`` -> ``acme-heads``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Rule:
    """One allow/deny entry: a distribution, optionally narrowed to one component."""

    dist: str
    component: str | None
    source: str

    @classmethod
    def parse(cls, text: str, source: str) -> Rule:
        text = text.strip()
        dist, sep, comp = text.partition(":")
        if not dist or (sep and not comp):
            raise InvalidSettingsError(
                f"{source}: invalid entry {text!r}; expected 'dist' or 'dist:name'"
            )
        return cls(canonical_dist(dist), comp or None, source)

    def matches(self, dist: str, component: str | None = None) -> bool:
        if self.dist != canonical_dist(dist):
            return False
        return self.component is None or self.component == component

    def __str__(self) -> str:
        return self.dist + (f":{self.component}" if self.component else "")


@dataclass(frozen=True)
class Settings:
    """Allow/deny rules, and where each came from."""

    allow: tuple[Rule, ...] = ()
    deny: tuple[Rule, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)

    def denial(self, dist: str, component: str | None = None) -> str | None:
        """Why ``dist`` (or ``dist:component``) is denied, or None when it may be used.

        With ``component=None`` only whole-distribution rules apply: a ``dist:name`` deny entry
        denies that component alone, not its distribution.
        """
        for rule in self.deny:
            if rule.matches(dist, component) and (component is not None or rule.component is None):
                return f"denied by '{rule}' in {rule.source}"
        if self.allow:
            if component is None:
                if not any(r.dist == canonical_dist(dist) for r in self.allow):
                    return f"not in the allow list ({self.sources.get('allow', 'settings')})"
            elif not any(r.matches(dist, component) for r in self.allow):
                return f"not in the allow list ({self.sources.get('allow', 'settings')})"
        return None


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidSettingsError(f"{path}: cannot read settings: {exc}") from exc


def _rules(value: Any, source: str) -> tuple[Rule, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidSettingsError(
            f"{source}: expected a list of strings like ['torchrack-losses', 'acme:focal'], "
            f"found {value!r}"
        )
    return tuple(Rule.parse(v, source) for v in value)


def load_settings(cwd: str | os.PathLike[str] | None = None) -> Settings:
    """Read the allow/deny settings that apply in ``cwd`` (default: the working directory)."""
    base = Path(cwd) if cwd is not None else Path.cwd()
    layers: list[tuple[str, dict[str, Any]]] = []
    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        tool = _read_toml(pyproject).get("tool", {}).get("torchrack", {})
        layers.append((f"{pyproject} [tool.torchrack]", tool))
    own = base / "torchrack.toml"
    if own.is_file():
        layers.append((str(own), _read_toml(own)))
    env = {}
    for key in ("allow", "deny"):
        var = f"TORCHRACK_{key.upper()}"
        if os.environ.get(var, "").strip():
            env[key] = os.environ[var]
    layers.append(("environment", env))

    values: dict[str, tuple[Rule, ...]] = {}
    sources: dict[str, str] = {}
    for source, table in layers:
        for key in ("allow", "deny"):
            if key in table:
                where = f"{source} ({key})" if source != "environment" else f"TORCHRACK_{key.upper()}"
                values[key] = _rules(table[key], where)
                sources[key] = where
    return Settings(values.get("allow", ()), values.get("deny", ()), sources)
