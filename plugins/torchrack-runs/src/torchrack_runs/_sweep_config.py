"""Sweep files: read, checked against the sweep schema, their space expanded into points.

A sweep file is an experiment config plus a ``[sweep]`` table; the config is inline, or comes
from ``base = "path.toml"`` (relative to the sweep file) with the file's own tables merged over
it. ``--set`` overrides apply to that config, so to every trial (``sweep.*`` keys to the
``[sweep]`` table itself: ``--set sweep.trials=4``). ``[sweep.space]`` maps dotted
config keys (the keys ``--set`` takes) to the values they take: a list, or for ``random`` and
``optuna`` a range ``{ low, high, log, step }``.

>>> spec = load_sweep("examples/ablation.toml", ["run.epochs=2"])
>>> points = spec.points()                 # grid and random: every point, in order
>>> spec.trial_config(points[0], seed=0, trial=1)

Every problem names the file, the JSON pointer (``/sweep/space/...``) and its line, what was
expected and what was found. Nothing here imports torch or a plugin; checking the trials
against the components and their tensor contracts is :mod:`torchrack_runs._sweep_check`.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchrack import TorchrackError
from torchrack.contracts import load_schema

from torchrack_runs._config import _parse_file, canonical_json, config_sha256
from torchrack_runs._messages import (
    ConfigError,
    Origin,
    Problem,
    close_match,
    raise_problems,
    schema_problems,
)
from torchrack_runs._overrides import _OverrideProblem, _parse_key, apply_all

__all__ = [
    "MAX_TRIALS",
    "Dimension",
    "SweepSpec",
    "load_sweep",
    "point_text",
    "set_key",
    "spec_from_document",
    "value_label",
    "write_config",
]

#: The most trials (points x seeds) one sweep may have: a guard against a grid that explodes.
MAX_TRIALS = 100_000

METHODS = ("grid", "random", "optuna")


@functools.cache
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(load_schema("sweep"))


@dataclass(frozen=True)
class Dimension:
    """One key of the space: the config path it sets and the values it takes."""

    key: str
    path: tuple[str, ...]
    values: tuple[Any, ...] | None = None  # a list of values, or None for a range
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    @property
    def is_range(self) -> bool:
        return self.values is None

    @property
    def integer(self) -> bool:
        """A range of integers: low, high (and step) are all integers."""
        return self.is_range and all(
            isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high, self.step)
            if v is not None)

    def draw(self, rng: random.Random) -> Any:
        """One value drawn uniformly (in log space with ``log``)."""
        if self.values is not None:
            return copy.deepcopy(self.values[rng.randrange(len(self.values))])
        assert self.low is not None and self.high is not None
        low, high = float(self.low), float(self.high)
        if self.step is not None:
            count = int(math.floor((high - low) / float(self.step) + 1e-9))
            value: float = low + float(self.step) * rng.randint(0, count)
        elif self.log:
            value = math.exp(rng.uniform(math.log(low), math.log(high)))
        elif self.integer:
            return rng.randint(int(low), int(high))
        else:
            value = rng.uniform(low, high)
        return int(round(value)) if self.integer else value

    def corners(self) -> list[Any]:
        """The values checked before an optuna sweep starts: every listed value, or a range's
        two ends."""
        if self.values is not None:
            return [copy.deepcopy(v) for v in self.values]
        assert self.low is not None and self.high is not None
        if self.integer:
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]


@dataclass
class SweepSpec:
    """A checked sweep: the experiment config of every trial (before its point) and the table."""

    source: str
    name: str
    method: str
    objective: str
    direction: str
    seeds: list[int]
    trials: int | None
    sampler_seed: int
    dimensions: list[Dimension]
    base: dict[str, Any]
    table: dict[str, Any]
    pruning: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.dimensions]

    def document(self) -> dict[str, Any]:
        """What the store keeps of the sweep: the config (``--set`` applied) and the table."""
        return {"config": self.base, "sweep": self.table}

    @property
    def sha256(self) -> str:
        return config_sha256(self.document())

    @property
    def epochs(self) -> int:
        return int(self.base.get("run", {}).get("epochs", 1))

    def points(self) -> list[dict[str, Any]]:
        """Every point of a grid (in order: the last key varies fastest), or the ``trials``
        points of a random sweep (drawn from ``sampler_seed``). Optuna has none up front."""
        if self.method == "grid":
            lists = [d.values or () for d in self.dimensions]
            return [{d.key: copy.deepcopy(v) for d, v in zip(self.dimensions, combo, strict=True)}
                    for combo in itertools.product(*lists)]
        if self.method == "random":
            rng = random.Random(self.sampler_seed)
            return [{d.key: d.draw(rng) for d in self.dimensions} for _ in range(self.trials or 0)]
        return []

    def check_points(self) -> list[dict[str, Any]]:
        """The points to check before any compute: all of them, or (optuna) one per listed
        value and range end of each key, the other keys at their first value."""
        if self.method != "optuna":
            return self.points()
        first = {d.key: d.corners()[0] for d in self.dimensions}
        out = [first]
        seen = {canonical_json(first)}
        for d in self.dimensions:
            for value in d.corners():
                point = {**copy.deepcopy(first), d.key: value}
                text = canonical_json(point)
                if text not in seen:
                    seen.add(text)
                    out.append(point)
        return out

    def trial_config(self, point: dict[str, Any], *, seed: int, trial: int | None = None) -> dict[str, Any]:
        """The experiment config of one trial: the base, the point's values, ``run.seed`` and a
        run name ``<sweep>-t<trial>``. Raises :class:`TorchrackError` naming the key when a
        value cannot be set (a list index the config does not have, say)."""
        config = copy.deepcopy(self.base)
        for d in self.dimensions:
            set_key(config, d, point[d.key])
        run = config.setdefault("run", {})
        if isinstance(run, dict):
            run["seed"] = int(seed)
            if trial is not None:
                run["name"] = f"{self.name}-t{trial}"
        return config

    def better(self, a: float, b: float) -> bool:
        """Whether objective ``a`` is better than ``b`` in this sweep's direction."""
        return a > b if self.direction == "maximize" else a < b


def set_key(config: dict[str, Any], dim: Dimension, value: Any) -> None:
    """Set ``dim``'s path in ``config`` to ``value``: missing tables on the way are created, a
    list index must exist."""
    node: Any = config
    for i, part in enumerate(dim.path):
        last = i == len(dim.path) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise TorchrackError(
                    f"[sweep.space] {dim.key!r}: {'.'.join(dim.path[:i]) or 'the config'} is a list of "
                    f"{len(node)} item(s), so {part!r} is not an index of it; add the item to the "
                    "config, or fix the key")
            index = int(part)
            if last:
                node[index] = copy.deepcopy(value)
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = copy.deepcopy(value)
            else:
                node = node.setdefault(part, {})
        else:
            raise TorchrackError(
                f"[sweep.space] {dim.key!r}: {'.'.join(dim.path[:i])} is a value, not a table or a "
                f"list, so it has no key {part!r}; fix the key")


def write_config(stem: Path, config: dict[str, Any]) -> Path:
    """Write a trial's config next to ``stem`` as ``.toml`` (runnable: ``torchrack run``), or as
    ``.json`` when TOML cannot hold it exactly; atomically. Returns the file written."""
    import json
    import os

    from torchrack_runs._toml import toml_dumps, toml_loads

    try:
        text = toml_dumps(config)
        exact = toml_loads(text) == config
    except (TypeError, ValueError):
        exact = False
    path = stem.with_suffix(".toml")
    if not exact:
        text, path = json.dumps(config, indent=2, sort_keys=True) + "\n", stem.with_suffix(".json")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def value_label(value: Any, limit: int = 60) -> str:
    """A value as tables and messages show it: a component table as ``mlp(widths=[128, 64])``,
    a list of them as ``[random_translate(max_shift=1)]``, anything else in TOML; cut at
    ``limit`` characters."""
    from torchrack_runs._toml import _value

    def one(v: Any) -> str:
        if isinstance(v, dict) and isinstance(v.get("name"), str):
            params: dict[str, Any] = v["params"] if isinstance(v.get("params"), dict) else {}
            inner = ", ".join(f"{k}={one(x)}" for k, x in params.items())
            return f"{v['name']}({inner})"
        if isinstance(v, list) and any(isinstance(x, dict) for x in v):
            return "[" + ", ".join(one(x) for x in v) + "]"
        try:
            return _value(v)
        except TypeError:
            return repr(v)

    text = one(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def point_text(point: dict[str, Any], limit: int = 60) -> str:
    """``optimizer.params.lr = 0.05, model.backbone = mlp(widths=[128, 64])``."""
    return ", ".join(f"{key} = {value_label(value, limit)}" for key, value in point.items())


# -- reading -----------------------------------------------------------------------------------------


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _space_problems(space: Any, method: str) -> list[Problem]:
    """What the schema would say less clearly: an empty list, a range for a grid, bad ranges."""
    problems: list[Problem] = []
    if not isinstance(space, dict):
        return problems
    for key, value in space.items():
        where = ("sweep", "space", key)
        if isinstance(value, list) and not value:
            problems.append(Problem(where, "an empty list of values: every key of the space takes at "
                                    "least one value (an empty grid has no points)"))
        elif isinstance(value, dict):
            if method == "grid":
                problems.append(Problem(where, "a range ({ low, high }) is for method = \"random\" or "
                                        "\"optuna\"; a grid takes a list of values, e.g. [0.01, 0.1]"))
                continue
            low, high = value.get("low"), value.get("high")
            numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
            if numbers and low > high:  # type: ignore[operator]
                problems.append(Problem(where, f"low ({low}) is above high ({high})"))
            if numbers and value.get("log") is True and low <= 0:  # type: ignore[operator]
                problems.append(Problem(where, f"log = true needs low > 0, found low = {low}"))
        elif not isinstance(value, list):
            problems.append(Problem(where, f"expected a list of values{'' if method == 'grid' else ' or a range { low, high }'}, "
                                    f"found {type(value).__name__} {value!r:.40}"))
    return problems


def _top_keys() -> list[str]:
    return list(load_schema("experiment-config")["properties"])


def _dimensions(space: dict[str, Any], problems: list[Problem]) -> list[Dimension]:
    dims: list[Dimension] = []
    seen: dict[tuple[str, ...], str] = {}
    known = _top_keys()
    for key, value in space.items():
        where = ("sweep", "space", key)
        try:
            parts = tuple(name for name, _ in _parse_key(key))
        except _OverrideProblem as exc:
            problems.append(Problem(where, f"not a config key: {exc.messages[0]}"))
            continue
        if parts[0] not in known:
            hint = close_match(parts[0], known)
            problems.append(Problem(where, f"unknown key {key!r}: {parts[0]!r} is not a table of an "
                                    f"experiment config{f' (did you mean {hint!r}?)' if hint else ''}; "
                                    f"its tables are: {', '.join(known)}"))
            continue
        if parts in seen:
            problems.append(Problem(where, f"the same config key as {seen[parts]!r}: give each key once"))
            continue
        seen[parts] = key
        if isinstance(value, list):
            dims.append(Dimension(key, parts, tuple(value)))
        elif isinstance(value, dict):
            dims.append(Dimension(key, parts, None, value.get("low"), value.get("high"),
                                  bool(value.get("log", False)), value.get("step")))
    # A key inside another swept key (model.backbone and model.backbone.params.widths) would
    # be overwritten by it, depending on the order: refused.
    for a in dims:
        for b in dims:
            if a is not b and b.path[:len(a.path)] == a.path:
                problems.append(Problem(("sweep", "space", b.key), f"inside the swept key {a.key!r}, "
                                        "which replaces it whole: sweep the whole value in "
                                        f"{a.key!r} instead"))
    return dims


def load_sweep(path: str | Path, overrides: Sequence[str] = ()) -> SweepSpec:
    """Read and check the sweep file at ``path``; raise :class:`ConfigError` listing every
    problem (pointer, line, what was expected and found)."""
    path = Path(path)
    data, text = _parse_file(path)
    origin = Origin(text=text, is_json=path.suffix.lower() == ".json")
    table = data.pop("sweep", None)
    if table is None:
        raise ConfigError(str(path), [
            "/sweep: missing: a sweep file is an experiment config plus a [sweep] table with an "
            "objective and a [sweep.space] (see docs/sweeps.md)"])
    base_ref = data.pop("base", None)
    if base_ref is not None:
        if not isinstance(base_ref, str) or not base_ref.strip():
            raise_problems(str(path), [Problem(("base",), "expected the path of an experiment config "
                                               "(relative to this file), e.g. base = \"digits.toml\"")], origin)
        base_path = (path.parent / str(base_ref)).resolve() if not Path(str(base_ref)).is_absolute() \
            else Path(str(base_ref))
        if not base_path.is_file():
            raise_problems(str(path), [Problem(("base",), f"no config file at {base_path} (base is "
                                               f"relative to {path.parent or Path('.')})")], origin)
        base_data, _ = _parse_file(base_path)
        base_data.pop("sweep", None)
        data = _merge(base_data, data)
    # --set reaches the sweep table too (`--set sweep.trials=4`); every other key is the trials'.
    config, _ = apply_all({**data, "sweep": table}, overrides, str(path))
    table = config.pop("sweep")
    return _spec(str(path), config, table, origin)


def spec_from_document(document: dict[str, Any], source: str) -> SweepSpec:
    """The spec of a recorded sweep (``--resume``), from the document the store kept."""
    return _spec(source, copy.deepcopy(document["config"]), copy.deepcopy(document["sweep"]), Origin())


def _spec(source: str, config: dict[str, Any], table: Any, origin: Origin) -> SweepSpec:
    if not isinstance(table, dict):
        raise_problems(source, [Problem(("sweep",), "expected a table ([sweep])")], origin)
    method = table.get("method", "grid")
    problems = _space_problems(table.get("space"), method if method in METHODS else "grid")
    reported = {p.path for p in problems}
    problems += [p for p in schema_problems(_validator(), table, ("sweep",))
                 if tuple(p.path[:3]) not in reported]
    if problems:
        raise_problems(source, problems, origin)
    space: dict[str, Any] = table["space"]
    dims = _dimensions(space, problems)
    trials = table.get("trials")
    if method == "grid" and trials is not None:
        problems.append(Problem(("sweep", "trials"), "a grid runs every combination of the space; "
                                "trials is for method = \"random\" or \"optuna\" (remove it)"))
    if method in ("random", "optuna") and trials is None:
        problems.append(Problem(("sweep", "trials"), f"method = {method!r} needs trials = N, the "
                                "number of points to run"))
    if method != "optuna" and "pruning" in table:
        problems.append(Problem(("sweep", "pruning"), "pruning is for method = \"optuna\""))
    run: dict[str, Any] = config["run"] if isinstance(config.get("run"), dict) else {}
    seeds = [int(s) for s in table.get("seeds") or [int(run.get("seed", 0) or 0)]]
    if not problems:
        count = len(seeds) * (math.prod(len(d.values or ()) for d in dims) if method == "grid"
                              else int(trials or 0))
        if count > MAX_TRIALS:
            problems.append(Problem(("sweep", "space"), f"{count} trials (points x seeds): at most "
                                    f"{MAX_TRIALS} in one sweep; sweep fewer values"))
    if problems:
        raise_problems(source, problems, origin)
    from torchrack_runs._strategies import default_mode

    objective = str(table["objective"])
    direction = str(table.get("direction") or
                    ("minimize" if default_mode(objective) == "min" else "maximize"))
    name = str(table.get("name") or run.get("name") or Path(source).stem)
    pruning = {"enabled": True, "startup_trials": 4, "warmup_epochs": 0, **table.get("pruning", {})}
    resources = {"num_cpus": 1, "num_gpus": 0, **table.get("resources", {})}
    normalized = {
        "name": name, "method": method, "objective": objective, "direction": direction,
        "seeds": seeds, "sampler_seed": int(table.get("sampler_seed", 0)), "space": space,
        "resources": resources,
    }
    if trials is not None:
        normalized["trials"] = int(trials)
    if method == "optuna":
        normalized["pruning"] = pruning
    return SweepSpec(source=source, name=name, method=method, objective=objective,
                     direction=direction, seeds=seeds, trials=None if trials is None else int(trials),
                     sampler_seed=int(table.get("sampler_seed", 0)), dimensions=dims, base=config,
                     table=normalized, pruning=pruning, resources=resources)
