"""Experiment configs: read (TOML or JSON), override (``--set``), validate, resolve statically.

Static resolution checks the config against the experiment-config schema, finds every component
in the registry (existence, ``dist:name``, version constraint) and validates its params against
the params schema from its manifest. It imports neither torch nor any plugin. Every problem is
reported at once, each with the file and the JSON pointer of the offending value.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchrack import TorchrackError
from torchrack.contracts import params_with_defaults, validate, validate_params
from torchrack.plugins import ComponentInfo, Registry

from torchrack_runs._optim import OPTIMIZERS, SCHEDULERS

DEFAULT_OPTIMIZER: dict[str, Any] = {"name": "sgd", "params": {"lr": 0.1, "momentum": 0.9}}
DEFAULT_SCHEDULER: dict[str, Any] = {"name": "constant", "params": {}}


class ConfigError(TorchrackError, ValueError):
    """A config that cannot be used; ``problems`` holds one line per offending value."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the config:\n{lines}")


def _toml_loads(text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib.loads(text)


def read_config(path: str | Path) -> dict[str, Any]:
    """Parse a ``.toml`` or ``.json`` config file; errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(str(path), [f"line {exc.lineno}, column {exc.colno}: {exc.msg}"]) from None
    else:
        try:
            data = _toml_loads(text)
        except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
            raise ConfigError(str(path), [f"invalid TOML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), ["the top level must be a table/object"])
    return data


def _parse_value(text: str) -> Any:
    try:
        return _toml_loads(f"v = {text}")["v"]
    except ValueError:
        return text  # a bare word: a string


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values in TOML syntax; bare words are strings).

    List items are addressed by index: ``augment.0.params.p=0.5``.
    """
    config = copy.deepcopy(config)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("--set", [f"{item!r}: expected KEY=VALUE, e.g. run.epochs=3"])
        parts = key.strip().split(".")
        node: Any = config
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError("--set", [f"{key}: {part!r} is not an index of a list of {len(node)}"])
                if last:
                    node[int(part)] = _parse_value(raw)
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = _parse_value(raw)
                else:
                    node = node.setdefault(part, {})
            else:
                raise ConfigError("--set", [f"{key}: {'.'.join(parts[:i])} is not a table"])
    return config


def canonical_json(obj: Any) -> str:
    """Canonical JSON (sorted keys, no spaces): what config hashes are computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_sha256(config: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


@dataclass
class Slot:
    """One component use in a config: where (role, pointer), what, with which params."""

    role: str  # "model.head", "augment[0]"
    pointer: str  # "/model/head"
    kind: str
    ref: dict[str, Any]
    info: ComponentInfo | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The dotted config key of this slot, for messages: ``augment.0``."""
        return self.pointer.strip("/").replace("/", ".")


@dataclass
class ResolvedConfig:
    """A validated config with every component resolved (nothing imported)."""

    source: str
    config: dict[str, Any]
    slots: list[Slot]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    #: The config's trackers, each as the ``dist:name`` of its ``torchrack.hooks`` entry point.
    trackers: list[str] = field(default_factory=list)

    def slot(self, role: str) -> Slot:
        return next(s for s in self.slots if s.role == role)

    def slots_of(self, kind: str) -> list[Slot]:
        return [s for s in self.slots if s.kind == kind]

    @property
    def sha256(self) -> str:
        return config_sha256(self.config)


def _slots(config: dict[str, Any]) -> list[Slot]:
    slots = [Slot("data.dataset", "/data/dataset", "dataset", config["data"]["dataset"])]
    for i, ref in enumerate(config.get("augment", [])):
        slots.append(Slot(f"augment[{i}]", f"/augment/{i}", "augmentation", ref))
    slots.append(Slot("model.backbone", "/model/backbone", "backbone", config["model"]["backbone"]))
    slots.append(Slot("model.head", "/model/head", "head", config["model"]["head"]))
    slots.append(Slot("loss", "/loss", "loss", config["loss"]))
    for i, ref in enumerate(config.get("metrics", [])):
        slots.append(Slot(f"metrics[{i}]", f"/metrics/{i}", "metric", ref))
    if "accelerator" in config:
        slots.append(Slot("accelerator", "/accelerator", "accelerator", config["accelerator"]))
    return slots


def _builtin(
    config: dict[str, Any], key: str, table: dict[str, Any], default: dict[str, Any], problems: list[str]
) -> dict[str, Any]:
    ref = config.get(key, default)
    name = ref.get("name")
    if name not in table:
        problems.append(f"/{key}/name: unknown {key} {name!r}; expected one of: {', '.join(table)}")
        return {"name": name, "params": {}}
    schema = table[name][1]
    for p in validate_params(schema, ref.get("params", {})):
        problems.append(f"/{key}/params{p.pointer}: {p.message}")
    return {"name": name, "params": params_with_defaults(schema, ref.get("params", {}))}


def resolve_config(
    config: dict[str, Any], registry: Registry, source: str = "<config>"
) -> ResolvedConfig:
    """Validate ``config`` and resolve its components statically; raise :class:`ConfigError`."""
    problems = [f"{p.pointer or '/'}: {p.message}" for p in validate("experiment-config", config)]
    if problems:
        raise ConfigError(source, problems)
    slots = _slots(config)
    for slot in slots:
        try:
            slot.info = registry.resolve(slot.kind, slot.ref["name"], slot.ref.get("version"))
        except TorchrackError as exc:
            field_ = "version" if "version" in str(type(exc).__name__).lower() else "name"
            problems.append(f"{slot.pointer}/{field_}: {exc}")
            continue
        given = slot.ref.get("params", {})
        schema = slot.info.params_schema
        for p in validate_params(schema, given):
            problems.append(
                f"{slot.pointer}/params{p.pointer}: {p.message} "
                f"({slot.kind} {slot.info.qualname} {slot.info.version}; see `torchrack info {slot.info.qualname}`)"
            )
        slot.params = params_with_defaults(schema, given)
    optimizer = _builtin(config, "optimizer", OPTIMIZERS, DEFAULT_OPTIMIZER, problems)
    scheduler = _builtin(config, "scheduler", SCHEDULERS, DEFAULT_SCHEDULER, problems)
    trackers: list[str] = []
    for i, ref in enumerate(config.get("trackers", [])):
        try:  # statically, like components: an unknown or untrusted name is refused here
            plugin, ep = registry.resolve_hook(ref["name"])
        except TorchrackError as exc:
            problems.append(f"/trackers/{i}/name: {exc}")
            continue
        trackers.append(f"{plugin.canonical_name}:{ep.name}")
    if problems:
        raise ConfigError(source, problems)
    return ResolvedConfig(source, config, slots, optimizer, scheduler, trackers)


def load_and_resolve(
    path: str | Path, registry: Registry, overrides: list[str] | None = None
) -> ResolvedConfig:
    """Read, override, validate and resolve the config at ``path``."""
    config = apply_overrides(read_config(path), overrides or [])
    return resolve_config(config, registry, str(path))
