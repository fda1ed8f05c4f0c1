"""A sweep's results: its points by objective (mean +- std over seeds), the ablation, the best config.

Pure functions over the trials of a recorded sweep (:meth:`RunStore.get_sweep`): nothing here
reads the store or imports torch. The spread of a point is the sample standard deviation of its
completed seeds (0 with one seed); a pruned trial stopped early, so its objective counts for
neither the mean nor the best.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from torchrack_runs._config import canonical_json

__all__ = ["ablation", "point_rows"]


def _stats(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


def point_rows(trials: Sequence[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    """One row per point: ``point_index``, ``point``, ``n`` (completed seeds), ``mean``, ``std``,
    ``values``, ``best_run`` (the run of its best seed), ``trials`` (numbers), ``statuses``
    (status -> count); best first, points without a completed seed last."""
    groups: dict[int, dict[str, Any]] = {}
    for t in trials:
        row = groups.setdefault(int(t["point_index"]), {
            "point_index": int(t["point_index"]), "point": t["point"], "values": [], "runs": [],
            "trials": [], "statuses": {}})
        row["trials"].append(int(t["trial"]))
        row["statuses"][t["status"]] = row["statuses"].get(t["status"], 0) + 1
        value = t.get("objective")
        if t["status"] == "completed" and isinstance(value, (int, float)) and math.isfinite(value):
            row["values"].append(float(value))
            row["runs"].append((float(value), t.get("run_id")))
    sign = -1.0 if direction == "maximize" else 1.0
    out = []
    for row in groups.values():
        row["mean"], row["std"] = _stats(row["values"])
        row["n"] = len(row["values"])
        runs = sorted(row.pop("runs"), key=lambda vr: sign * vr[0])
        row["best_run"] = runs[0][1] if runs else None
        out.append(row)
    out.sort(key=lambda r: (r["mean"] is None, sign * (r["mean"] or 0.0), r["point_index"]))
    return out


def ablation(trials: Sequence[dict[str, Any]], keys: Sequence[str], direction: str) -> dict[str, Any]:
    """Each key's effect one at a time from the best point: for every value the key took, the
    point that is the best one but for that key (when the sweep ran it), its mean +- std and its
    difference from the best. ``range`` of a key: the spread of its means (best minus worst), so
    the key with the largest range matters most. Returns ``{"best": row, "factors": [...]}``,
    the factors sorted by range, largest first, each one's levels best first."""
    rows = [r for r in point_rows(trials, direction) if r["mean"] is not None]
    if not rows:
        return {"best": None, "factors": []}
    best = rows[0]
    sign = -1.0 if direction == "maximize" else 1.0
    index = {canonical_json(r["point"]): r for r in rows}
    factors = []
    for key in keys:
        seen: dict[str, dict[str, Any]] = {}
        for r in rows:
            value = r["point"].get(key)
            probe = {**best["point"], key: value}
            text = canonical_json(value)
            if text in seen:
                continue
            found = index.get(canonical_json(probe))
            if found is None:
                continue
            seen[text] = {"value": value, "mean": found["mean"], "std": found["std"], "n": found["n"],
                          "delta": found["mean"] - best["mean"], "is_best": found is best,
                          "point_index": found["point_index"]}
        levels = sorted(seen.values(), key=lambda lv: (not lv["is_best"], sign * lv["mean"]))
        means = [lv["mean"] for lv in levels]
        factors.append({"key": key, "best_value": best["point"].get(key), "levels": levels,
                        "range": (max(means) - min(means)) if means else 0.0})
    factors.sort(key=lambda f: -f["range"])
    return {"best": best, "factors": factors}
