"""Experiment configs: read (TOML or JSON), override (``--set``), validate, resolve statically.

Static resolution checks the config against the experiment-config schema, finds every component
in the registry (existence, ``dist:name``, version constraint) and validates its params against
the params schema from its manifest. It imports neither torch nor any plugin. Every problem is
reported at once, each with the JSON pointer of the offending value, what was expected and what
was found, and where the value came from: its line in the file, or the ``--set KEY=VALUE`` that
gave it. Values that a schema cannot refuse (NaN, infinity, integers beyond 64 bits, nesting
deeper than :data:`~torchrack_runs._values.MAX_DEPTH`) are refused by
:func:`~torchrack_runs._values.check_values`, for files and ``--set`` values alike.

The optimizer and the scheduler are components like the others (kinds ``optimizer`` and
``scheduler``, roles of the same names), with defaults when the config names none. Applying
``--set`` lives in :mod:`torchrack_runs._overrides`, the problems in plain sentences in
:mod:`torchrack_runs._messages`; what they publish stays importable from here.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchrack import TorchrackError
from torchrack.contracts import load_schema, params_with_defaults, validate
from torchrack.plugins import ComponentInfo, ComponentNotFoundError, Registry

from torchrack_runs._messages import (
    MAX_PROBLEMS,
    ConfigError,
    Origin,
    Owner,
    Problem,
    Suggest,
    params_problems,
    raise_problems,
    schema_problems,
)
from torchrack_runs._overrides import apply_all, apply_overrides
from torchrack_runs._toml import LONG_INT, digits_message, toml_loads, tomllib_module
from torchrack_runs._values import MAX_DEPTH, check_values, sanitized

__all__ = [
    "DEFAULT_OPTIMIZER",
    "DEFAULT_SCHEDULER",
    "MAX_PROBLEMS",
    "ConfigError",
    "ResolvedConfig",
    "Slot",
    "apply_overrides",
    "canonical_json",
    "config_sha256",
    "load_and_resolve",
    "read_config",
    "resolve_config",
]

#: What a config without an ``optimizer`` / ``scheduler`` table uses (from torchrack-optim).
DEFAULT_OPTIMIZER: dict[str, Any] = {"name": "sgd", "params": {"lr": 0.1, "momentum": 0.9}}
DEFAULT_SCHEDULER: dict[str, Any] = {"name": "constant", "params": {}}


# -- reading ---------------------------------------------------------------------------------------


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _deep_line(text: str, toml: bool) -> int | None:
    """The line where brackets first nest deeper than :data:`MAX_DEPTH` (strings skipped)."""
    depth, i, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return _line_at(text, i)
        elif c in "]}":
            depth -= 1
        elif c == '"' or (toml and c == "'"):
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" and c == '"' else 1
            i = j
        elif toml and c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        i += 1
    return None


def _too_deep_message(text: str, toml: bool) -> str:
    line = _deep_line(text, toml)
    where = f"line {line}: " if line else ""
    return (f"{where}nested too deeply to be read: a config is at most {MAX_DEPTH} levels of "
            "tables and lists")


def _parse_file(path: Path) -> tuple[dict[str, Any], str]:
    """``path``'s config and its text; every failure is a :class:`ConfigError` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"cannot read the file: not UTF-8 text ({exc.reason} at "
                                      f"byte {exc.start})"]) from None
    is_json = path.suffix.lower() == ".json"
    try:
        data = json.loads(text) if is_json else toml_loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(str(path), [f"line {exc.lineno}, column {exc.colno}: {exc.msg}"]) from None
    except RecursionError:
        raise ConfigError(str(path), [_too_deep_message(text, toml=not is_json)]) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError, or the 4300-digit limit of int()
        if not is_json and isinstance(exc, tomllib_module().TOMLDecodeError):
            raise ConfigError(str(path), [f"invalid TOML: {exc}"]) from None
        if "digits" in str(exc):
            match = LONG_INT.search(text)
            where = f"line {_line_at(text, match.start())}: " if match else ""
            raise ConfigError(str(path), [where + digits_message(text)]) from None
        raise ConfigError(str(path), [f"invalid {'JSON' if is_json else 'TOML'}: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), ["the top level must be a table/object"])
    deep = [p for p in check_values(data) if p.kind == "too-deep"]
    if deep:  # refused here: copying or validating such a tree could exhaust the stack
        origin = Origin(text=text, is_json=is_json)
        raise ConfigError(str(path), [f"{p}{origin.where(p.path)}" for p in deep])
    return data, text


def read_config(path: str | Path) -> dict[str, Any]:
    """Parse a ``.toml`` or ``.json`` config file; errors name the file and line."""
    return _parse_file(Path(path))[0]


def canonical_json(obj: Any) -> str:
    """Canonical JSON (sorted keys, no spaces): what config hashes are computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_sha256(config: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


@functools.cache
def _config_validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(load_schema("experiment-config"))


# -- resolution ------------------------------------------------------------------------------------


@dataclass
class Slot:
    """One component use in a config: where (role, pointer), what, with which params."""

    role: str  # "model.head", "augment[0]"
    pointer: str  # "/model/head"
    kind: str
    ref: dict[str, Any]
    info: ComponentInfo | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: True when the config does not name this component and the run's default is used.
    default: bool = False
    #: Params given as ``"auto"``: dimension params bound at the dry run to the size of the
    #: input dim they name (``in_features = "auto"``: the upstream feature size); until bound,
    #: ``params`` holds their schema default. :func:`torchrack_runs._pipeline.bind_auto`.
    auto: list[str] = field(default_factory=list)

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
    #: The config's trackers, each as the ``dist:name`` of its ``torchrack.hooks`` entry point.
    trackers: list[str] = field(default_factory=list)
    #: The params of each tracker, in the order of :attr:`trackers` (``{}`` for a plain name).
    tracker_params: list[dict[str, Any]] = field(default_factory=list)
    #: Backbones pre-trained from a recorded run (``params.run``), filled in by
    #: :func:`torchrack_runs._pretrained.resolve_pretrained`: role, run id, checkpoint, epoch.
    pretrained_from: list[dict[str, Any]] = field(default_factory=list)

    def slot(self, role: str) -> Slot:
        return next(s for s in self.slots if s.role == role)

    def slots_of(self, kind: str) -> list[Slot]:
        return [s for s in self.slots if s.kind == kind]

    @property
    def sha256(self) -> str:
        return config_sha256(self.config)

    @property
    def optimizer(self) -> dict[str, Any]:
        """The optimizer as the config names it, with its params completed by the defaults."""
        return _named(self.slot("optimizer"))

    @property
    def scheduler(self) -> dict[str, Any]:
        """The scheduler as the config names it, with its params completed by the defaults."""
        return _named(self.slot("scheduler"))


    def full(self) -> dict[str, Any]:
        """The config with every default written out, so that a run can be reproduced from its
        record alone: every component's params completed by its schema's defaults (optimizer
        and scheduler included, also when the config names none), and the defaults of the
        ``run``, ``data`` and ``train`` tables. Running it gives the same run (its sha256
        differs from the config's: it is another text of the same experiment)."""
        from torchrack_runs._strategies import TrainSettings

        out = copy.deepcopy(self.config)
        for slot in self.slots:
            ref = {k: v for k, v in slot.ref.items() if k != "params"}
            ref["params"] = copy.deepcopy(slot.params)
            parts = slot.pointer.strip("/").split("/")
            parent: Any = out
            for part in parts[:-1]:
                parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
            last = parts[-1]
            if isinstance(parent, list):
                parent[int(last)] = ref
            else:
                parent[last] = ref
        run = out.setdefault("run", {})
        run_defaults: dict[str, Any] = {"seed": 0, "epochs": 1, "deterministic": True,
                                        "checkpoint_every": 1}
        for key, value in run_defaults.items():
            run.setdefault(key, value)
        data = out.setdefault("data", {})
        data_defaults: dict[str, Any] = {"batch_size": 64, "train_split": "train",
                                         "eval_split": "test", "drop_last": False}
        for key, value in data_defaults.items():
            data.setdefault(key, value)
        data.setdefault("eval_batch_size", int(data["batch_size"]) * 4)
        out["train"] = TrainSettings.from_config(out).as_config()
        return out


def auto_params(info: ComponentInfo) -> list[str]:
    """The params of a component that may be ``"auto"``: those its input tensor specs name as a
    whole dimension (``"$in_features"``), bound at the dry run to that dimension's size."""
    from torchrack.contracts import param_of

    names: list[str] = []
    for spec in (info.inputs or {}).values():
        for dim in (spec or {}).get("shape", []) if isinstance(spec, dict) else []:
            name = param_of(dim)
            if name is not None and dim == f"${name}" and name not in names:
                names.append(name)
    return names


def _takes_auto_string(prop: Any) -> bool:
    """Whether a param's own schema accepts the string ``"auto"`` (e.g. a ddp ``backend``): then
    ``"auto"`` is that param's value, not a dimension to bind."""
    if not isinstance(prop, dict):
        return False
    if "enum" in prop or "const" in prop:
        return "auto" in prop.get("enum", []) or prop.get("const") == "auto"
    types = prop.get("type")
    if isinstance(types, str):
        types = [types]
    if isinstance(types, list) and "string" in types:
        return True
    return any(_takes_auto_string(p) for key in ("anyOf", "oneOf") for p in prop.get(key, []))


def _split_auto(slot: Slot, given: Any, where: tuple[str | int, ...]) -> tuple[Any, list[str], list[Problem]]:
    """``given`` without its ``"auto"`` params, their names, and a problem for each param that
    cannot be auto (no input dimension of the component follows it)."""
    if not isinstance(given, dict) or "auto" not in given.values() or slot.info is None:
        return given, [], []
    allowed = auto_params(slot.info)
    props = (slot.info.params_schema or {}).get("properties", {})
    auto, problems, rest = [], [], {}
    for key, value in given.items():
        if value != "auto" or isinstance(value, bool) or _takes_auto_string(props.get(key)):
            rest[key] = value
        elif key in allowed:
            auto.append(key)
        else:
            which = (f"its dimension params are: {', '.join(allowed)}" if allowed
                     else "it has no dimension param that an input follows")
            problems.append(Problem((*where, key), f'"auto" binds a dimension param to the size of '
                                    f"the input dimension it names at the dry run; {key!r} is not "
                                    f"one of {slot.kind} {slot.info.qualname} ({which}): give a value"))
    return rest, auto, problems


def _named(slot: Slot) -> dict[str, Any]:
    return {"name": slot.ref["name"], "params": dict(slot.params)}


def _slots(config: dict[str, Any]) -> list[Slot]:
    slots = [Slot("data.dataset", "/data/dataset", "dataset", config["data"]["dataset"])]
    for i, ref in enumerate(config.get("augment", [])):
        slots.append(Slot(f"augment[{i}]", f"/augment/{i}", "augmentation", ref))
    slots.append(Slot("model.backbone", "/model/backbone", "backbone", config["model"]["backbone"]))
    if "adapter" in config["model"]:
        slots.append(Slot("model.adapter", "/model/adapter", "adapter", config["model"]["adapter"]))
    slots.append(Slot("model.head", "/model/head", "head", config["model"]["head"]))
    slots.append(Slot("loss", "/loss", "loss", config["loss"]))
    for key, default in (("optimizer", DEFAULT_OPTIMIZER), ("scheduler", DEFAULT_SCHEDULER)):
        given = key in config
        ref = config[key] if given else copy.deepcopy(default)
        slots.append(Slot(key, f"/{key}", key, ref, default=not given))
    for i, ref in enumerate(config.get("metrics", [])):
        slots.append(Slot(f"metrics[{i}]", f"/metrics/{i}", "metric", ref))
    if "accelerator" in config:
        slots.append(Slot("accelerator", "/accelerator", "accelerator", config["accelerator"]))
    return slots


#: The component kind at each place of a config (list items by their list's key).
_KINDS = {("data", "dataset"): "dataset", ("augment",): "augmentation", ("model", "backbone"): "backbone",
          ("model", "adapter"): "adapter",
          ("model", "head"): "head", ("loss",): "loss", ("metrics",): "metric",
          ("accelerator",): "accelerator", ("optimizer",): "optimizer", ("scheduler",): "scheduler"}


def _suggester(config: Any, registry: Registry) -> Suggest:
    """Did-you-mean for a key that is no typo but misplaced: ``seed`` at the top level belongs
    in ``run``; ``max_shift`` next to a component's ``name`` belongs in its ``params``."""
    schema = load_schema("experiment-config")

    def child_props(sub: Any) -> dict[str, Any]:
        if isinstance(sub, dict) and "$ref" in sub:
            sub = schema["$defs"].get(str(sub["$ref"]).rsplit("/", 1)[-1], {})
        return sub.get("properties", {}) if isinstance(sub, dict) else {}

    def suggest(path: tuple[str | int, ...], key: str, known: Sequence[str]) -> str | None:
        if not path:
            for name, sub in schema["properties"].items():
                if key in child_props(sub):
                    return f"{name}.{key}"
            return None
        where = tuple(p for p in path if not isinstance(p, int))
        kind = _KINDS.get(where)
        ref: Any = config
        for p in path:
            try:
                ref = ref[p]
            except (KeyError, IndexError, TypeError):
                return None
        if isinstance(ref, dict) and isinstance(ref.get("name"), str) and "params" in known:
            params: dict[str, Any] = {}
            if kind is not None:
                try:  # only a hint: whatever goes wrong here, there is no suggestion
                    params = registry.resolve(kind, ref["name"]).params_schema.get("properties", {})
                except Exception:  # noqa: BLE001
                    return None
            if key in params:
                return f"params.{key}"
        return None

    return suggest


def _under(path: Sequence[str | int], roots: set[tuple[str, ...]]) -> bool:
    parts = tuple(str(p) for p in path)
    return any(parts[:len(r)] == r for r in roots)


def _resolve(config: dict[str, Any], registry: Registry, source: str,
             origin: Origin) -> ResolvedConfig:
    values = check_values(config)
    bad = {tuple(str(p) for p in v.path) for v in values}
    # Offending values are replaced (by null) before anything else looks at the config: the
    # 4300-digit limit of repr() and the stack are not jsonschema's concern. What is then said
    # about those nulls is left out: the value's own problem says it.
    checked: Any = sanitized(config, values) if values else config
    problems: list[Problem] = []

    def report() -> None:
        found = [Problem(v.path, v.message) for v in values]
        raise_problems(source, found + [p for p in problems if not _under(p.path, bad)], origin)

    # The core's validate() answers a valid config without importing jsonschema (its fast
    # path); only an invalid one is explained, through jsonschema, in plain sentences.
    if validate("experiment-config", checked):
        problems += schema_problems(_config_validator(), checked, suggest=_suggester(checked, registry))
    if problems:
        report()
    slots = _slots(checked)
    for slot in slots:
        place = tuple(int(p) if p.isdigit() else p for p in slot.pointer.strip("/").split("/"))
        try:
            slot.info = registry.resolve(slot.kind, slot.ref["name"], slot.ref.get("version"))
        except TorchrackError as exc:
            field_ = "version" if "version" in str(type(exc).__name__).lower() else "name"
            hint = (f" (a config without [{slot.key}] uses {slot.ref['name']!r} from torchrack-optim: "
                    f"pip install torchrack-optim, or name another {slot.kind} in [{slot.key}])"
                    if slot.default and isinstance(exc, ComponentNotFoundError) else "")
            problems.append(Problem((*place, field_), f"{exc}{hint}"))
            continue
        given = slot.ref.get("params", {})
        schema = slot.info.params_schema
        owner = Owner(slot.kind, slot.info.qualname, slot.info.version)
        given, slot.auto, auto_problems = _split_auto(slot, given, (*place, "params"))
        problems += auto_problems
        problems += params_problems(schema, given, (*place, "params"), owner)
        slot.params = params_with_defaults(schema, given)
    trackers, tracker_params = _trackers(checked, registry, problems)
    if problems or values:
        report()
    return ResolvedConfig(source, config, slots, trackers, tracker_params)


def _trackers(config: dict[str, Any], registry: Registry,
              problems: list[Problem]) -> tuple[list[str], list[dict[str, Any]]]:
    """The ``dist:name`` and params of each entry of ``trackers``: a name (``"mlflow"``) or a
    table ``{name, params}``. Resolved statically, like components: an unknown or untrusted name
    is refused here, before anything is imported; the params are checked by the tracker itself
    when the run builds it (docs/tracking.md)."""
    names: list[str] = []
    params: list[dict[str, Any]] = []
    for i, entry in enumerate(config.get("trackers", [])):
        ref: dict[str, Any] = {"name": entry} if isinstance(entry, str) else entry
        place: tuple[str | int, ...] = ("trackers", i) if isinstance(entry, str) else ("trackers", i, "name")
        if "version" in ref:
            problems.append(Problem(("trackers", i, "version"), "a tracker takes no version "
                                    "constraint (hooks have no version of their own); pin its "
                                    "distribution in your requirements instead"))
            continue
        try:
            plugin, ep = registry.resolve_hook(ref["name"])
        except TorchrackError as exc:
            problems.append(Problem(place, str(exc)))
            continue
        names.append(f"{plugin.canonical_name}:{ep.name}")
        params.append(dict(ref.get("params") or {}))
    return names, params


def resolve_config(
    config: dict[str, Any], registry: Registry, source: str = "<config>"
) -> ResolvedConfig:
    """Validate ``config`` and resolve its components statically; raise :class:`ConfigError`."""
    return _resolve(config, registry, source, Origin())


def load_and_resolve(
    path: str | Path, registry: Registry, overrides: list[str] | None = None
) -> ResolvedConfig:
    """Read, override, validate and resolve the config at ``path``.

    Problems name the line of the file that holds each offending value, or the ``--set`` that
    gave it.
    """
    path = Path(path)
    data, text = _parse_file(path)
    config, applied = apply_all(data, overrides or [], str(path))
    origin = Origin(text=text, is_json=path.suffix.lower() == ".json", overrides=applied)
    return _resolve(config, registry, str(path), origin)
