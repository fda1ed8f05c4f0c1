"""Trust settings: allow and deny lists, strict mode, no plugins; read before any import.

Sources, lowest precedence first (a later source replaces a key set by an earlier one):

1. ``[tool.torchrack]`` in ``pyproject.toml`` in the working directory;
2. ``torchrack.toml`` in the working directory (top-level keys);
3. the environment: ``TORCHRACK_ALLOW`` / ``TORCHRACK_DENY`` (comma-separated),
   ``TORCHRACK_STRICT`` and ``TORCHRACK_NO_PLUGINS`` (1/0, true/false), ``TORCHRACK_PROBE_TIMEOUT``
   (seconds one plugin's imports may take in the import probe of ``check`` and ``info``).

``torchrack config`` shows the values in force and where each came from.

An entry is a distribution name (``torchrack-losses``) or ``dist:name`` for one component.
When an allow list is set, everything not on it is denied. Deny wins over allow.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path
from typing import Any

from torchrack._errors import TorchrackError
from torchrack._record import FrozenRecord


class InvalidSettingsError(TorchrackError):
    """A settings file or variable that cannot be read; names the file and key."""


_SEPARATORS = re.compile(r"[-_.]+")


@functools.lru_cache(maxsize=4096)
def canonical_dist(name: str) -> str:
    """PEP 503 normalisation of a distribution name (``Acme_Heads`` -> ``acme-heads``)."""
    return _SEPARATORS.sub("-", name).lower()


class Rule(FrozenRecord):
    """One allow/deny entry: a distribution, optionally narrowed to one component."""

    _fields = ("dist", "component", "source")
    dist: str
    component: str | None
    source: str

    def __init__(self, dist: str, component: str | None, source: str) -> None:
        self._set(dist=dist, component=component, source=source)

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


class Settings(FrozenRecord):
    """Allow/deny rules, and where each came from."""

    _fields = ("allow", "deny", "sources", "strict", "no_plugins", "probe_timeout")
    allow: tuple[Rule, ...]
    deny: tuple[Rule, ...]
    sources: dict[str, str]
    strict: bool
    no_plugins: bool
    probe_timeout: float

    def __init__(
        self,
        allow: tuple[Rule, ...] = (),
        deny: tuple[Rule, ...] = (),
        sources: dict[str, str] | None = None,
        strict: bool = False,
        no_plugins: bool = False,
        probe_timeout: float = 10.0,
    ) -> None:
        self._set(allow=allow, deny=deny, sources={} if sources is None else sources, strict=strict,
                  no_plugins=no_plugins, probe_timeout=probe_timeout)

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


_BOOL_KEYS = ("strict", "no_plugins")
_RULE_KEYS = ("allow", "deny")
_NUMBER_KEYS = ("probe_timeout",)


def _env_var(key: str) -> str:
    return f"TORCHRACK_{key.upper()}"


def _bool(value: Any, source: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
        return value.strip().lower() in ("1", "true", "yes", "on")
    raise InvalidSettingsError(f"{source}: {key} must be true or false, found {value!r}")


def _seconds(value: Any, source: str, key: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
        raise InvalidSettingsError(f"{source}: {key} must be a number of seconds in (0, 3600], found {value!r}")
    return float(value)


def load_settings(cwd: str | os.PathLike[str] | None = None) -> Settings:
    """Read the trust settings that apply in ``cwd`` (default: the working directory).

    Keys: ``allow``, ``deny`` (lists of ``dist`` or ``dist:name``), ``strict`` (any incompatible or
    broken plugin is an error for validate and run), ``no_plugins`` (discover no plugin at all) and
    ``probe_timeout`` (seconds one plugin's imports may take in the import probe, default 10).
    Precedence, lowest first: ``[tool.torchrack]`` in ``pyproject.toml``, then ``torchrack.toml``,
    then the environment (``TORCHRACK_ALLOW``, ``TORCHRACK_DENY``, ``TORCHRACK_STRICT``,
    ``TORCHRACK_NO_PLUGINS``). ``sources`` records where each value came from.
    """
    base = Path(cwd) if cwd is not None else Path.cwd()
    layers: list[tuple[str, dict[str, Any]]] = []
    pyproject = base / "pyproject.toml"
    if pyproject.is_file():
        tool = _read_toml(pyproject).get("tool", {})
        tool = tool.get("torchrack", {}) if isinstance(tool, dict) else {}
        layers.append((f"{pyproject} [tool.torchrack]", tool))
    own = base / "torchrack.toml"
    if own.is_file():
        layers.append((str(own), _read_toml(own)))
    env: dict[str, Any] = {}
    for key in _RULE_KEYS + _BOOL_KEYS + _NUMBER_KEYS:
        if os.environ.get(_env_var(key), "").strip():
            env[key] = os.environ[_env_var(key)]
    layers.append(("environment", env))

    rules: dict[str, tuple[Rule, ...]] = {}
    flags: dict[str, bool] = {}
    numbers: dict[str, float] = {}
    sources: dict[str, str] = {}
    for source, table in layers:
        if not isinstance(table, dict):
            raise InvalidSettingsError(f"{source}: expected a table of settings, found {table!r}")
        for key in _RULE_KEYS + _BOOL_KEYS + _NUMBER_KEYS:
            if key not in table:
                continue
            where = _env_var(key) if source == "environment" else f"{source} ({key})"
            if key in _RULE_KEYS:
                rules[key] = _rules(table[key], where)
            elif key in _NUMBER_KEYS:
                numbers[key] = _seconds(table[key], where, key)
            else:
                flags[key] = _bool(table[key], where, key)
            sources[key] = where
    return Settings(
        rules.get("allow", ()),
        rules.get("deny", ()),
        sources,
        strict=flags.get("strict", False),
        no_plugins=flags.get("no_plugins", False),
        probe_timeout=numbers.get("probe_timeout", 10.0),
    )
