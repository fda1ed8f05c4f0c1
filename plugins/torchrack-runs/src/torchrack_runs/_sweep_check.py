"""Every trial of a sweep checked before any compute: schema, components, tensor contracts, objective.

Each point's config (the base with the point applied, at the first seed) is written to a
temporary folder and handed to a :class:`~torchrack_runs._runner.Runner`, exactly as ``torchrack
validate`` would: its schema and components are resolved statically, then its pipeline runs once
on the ``meta`` device against the declared tensor specs (``Runner.contract_problems``). The
objective must be a final metric of every point: ``eval_loss`` or a report name of one of its
metrics (each metric is constructed once and asked for its names, on an empty state). The seeds
of a point change ``run.seed`` only, so one check covers them all.

Problems are collected for every point and raised together, each naming the point; nothing is
written anywhere but the temporary folder, which is removed.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torchrack import TorchrackError
from torchrack.plugins import Registry, Settings

from torchrack_runs._config import ConfigError, canonical_json
from torchrack_runs._sweep_config import SweepSpec, point_text, write_config

__all__ = ["SweepCheckError", "check_sweep", "metric_names"]

_LINE = re.compile(r" \(line \d+\)$")

#: Problems shown per sweep (the rest are counted).
MAX_SHOWN = 20


class SweepCheckError(TorchrackError):
    """Points of a sweep that cannot run; ``problems`` holds one line per problem, each naming
    the point."""

    def __init__(self, source: str, problems: list[str], checked: int) -> None:
        self.source = source
        self.problems = problems
        shown = problems[:MAX_SHOWN]
        if len(problems) > MAX_SHOWN:
            shown.append(f"... and {len(problems) - MAX_SHOWN} more")
        lines = "\n".join(f"  {p}" for p in shown)
        super().__init__(f"{source}: {len(problems)} problem(s) in the points of the sweep (of "
                         f"{checked} checked; nothing was run or recorded):\n{lines}")


def metric_names(runner: Any, registry: Registry, cache: dict[str, set[str] | None]) -> set[str] | None:
    """The final metrics of ``runner``'s config: ``eval_loss`` and each metric's report names;
    None when a metric cannot say its names without data."""
    from torchrack_runs._pipeline import instantiate

    names = {"eval_loss"}
    for slot in runner.resolved.slots_of("metric"):
        key = canonical_json([slot.info.qualname if slot.info else slot.ref.get("name"), slot.params])
        if key not in cache:
            try:
                metric = instantiate(slot, registry)
                metric.reset()
                computed = metric.compute()
                cache[key] = {str(k) for k, v in computed.items()
                              if isinstance(v, (int, float)) and not isinstance(v, bool)}
            except Exception:  # noqa: BLE001 - a metric that needs data to name itself
                cache[key] = None
        found = cache[key]
        if found is None:
            return None
        names |= found
    return names


def check_sweep(spec: SweepSpec, registry: Registry, settings: Settings,
                log: Callable[[str], None] | None = None) -> int:
    """Check the points of ``spec`` (all of them; for optuna each listed value and range end of
    every key); return how many were checked, or raise :class:`SweepCheckError`."""
    from torchrack_runs._runner import Runner

    points = spec.check_points()
    problems: list[str] = []
    metrics_cache: dict[str, set[str] | None] = {}
    contracts: dict[str, list[str]] = {}
    label_total = len(points)
    kind = "point" if spec.method != "optuna" else "value checked"
    with tempfile.TemporaryDirectory(prefix="torchrack-sweep-check-") as tmp:
        for i, point in enumerate(points, 1):
            label = f"{kind} {i}/{label_total} ({point_text(point)})"
            try:
                config = spec.trial_config(point, seed=spec.seeds[0], trial=1)
                path = write_config(Path(tmp) / f"point-{i}", config)
                runner = Runner(path, (), settings=settings, registry=registry)
            except ConfigError as exc:
                # "(line N)" would be a line of the temporary trial config, not of the sweep file.
                problems += [f"{label}: {_LINE.sub('', p)}" for p in exc.problems]
                continue
            except TorchrackError as exc:
                problems.append(f"{label}: {exc}")
                continue
            # The contract check depends on the components, not on the optimizer or the seed:
            # points that differ only there share one dry run.
            parts = {s.role: (s.ref.get("name"), s.params) for s in runner.resolved.slots
                     if s.kind not in ("optimizer", "scheduler")}
            key = canonical_json([parts, config.get("data", {})])
            if key not in contracts:
                if log is not None:
                    log(f"checking {label} on the meta device")
                try:
                    contracts[key] = runner.contract_problems(device="meta")
                except TorchrackError as exc:
                    contracts[key] = [str(exc)]
            problems += [f"{label}: {p}" for p in contracts[key]]
            names = metric_names(runner, registry, metrics_cache)
            if names is not None and spec.objective not in names:
                problems.append(
                    f"{label}: /sweep/objective: {spec.objective!r} is not a metric this config "
                    f"computes; its final metrics are: {', '.join(sorted(names))} (add the metric "
                    "to [[metrics]], or choose one of these)")
    if problems:
        # One objective problem per sweep is enough when every point has it.
        raise SweepCheckError(spec.source, _dedupe(problems), len(points))
    return len(points)


def _dedupe(problems: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for p in problems:
        tail = p.split("): ", 1)[-1]
        if tail.startswith("/sweep/objective") and tail in seen:
            continue
        seen.add(tail)
        out.append(p)
    return out
