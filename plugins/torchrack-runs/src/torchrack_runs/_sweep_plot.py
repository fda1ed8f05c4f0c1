"""``torchrack sweep plot ID -o FILE.png``: the objective against each swept key (matplotlib).

One panel per key of the space: each completed trial is a dot at its value (numbers on a
numeric axis, log-scaled when the range asked for it; anything else, such as a component table,
as a category labelled like the tables), and each value's mean over the seeds a bar (+- std).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from torchrack import TorchrackError

from torchrack_runs._config import canonical_json
from torchrack_runs._sweep_config import value_label

__all__ = ["PlotUnavailableError", "plot_sweep"]


class PlotUnavailableError(TorchrackError):
    """``sweep plot`` needs matplotlib, an optional extra."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def plot_sweep(sweep: dict[str, Any], path: Path) -> Path:
    """Write the sweep's plot to ``path`` (atomically); return it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailableError("`torchrack sweep plot` needs matplotlib: pip install "
                                   "'torchrack-runs[plot]'") from None
    keys = list((sweep.get("settings") or {}).get("keys") or sweep["parameters"])
    done = [t for t in sweep["trials"] if t["status"] == "completed" and _number(t.get("objective"))]
    if not done:
        raise TorchrackError(f"sweep {sweep['sweep_id']} has no completed trial yet: nothing to plot")
    metric = sweep["objective"]["metric"]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.8), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        values = [t["point"].get(key) for t in done]
        ys = [float(t["objective"]) for t in done]
        space = sweep["parameters"].get(key)
        if all(_number(v) for v in values):
            xs = [float(v) for v in values]
            ax.scatter(xs, ys, alpha=0.7)
            if isinstance(space, dict) and space.get("log"):
                ax.set_xscale("log")
        else:
            labels: dict[str, int] = {}
            for v in values:
                labels.setdefault(canonical_json(v), len(labels))
            xs = [float(labels[canonical_json(v)]) for v in values]
            ax.scatter(xs, ys, alpha=0.7)
            names = {canonical_json(v): value_label(v, 24) for v in values}
            ax.set_xticks(range(len(labels)), [names[k] for k in labels], rotation=20, ha="right",
                          fontsize=8)
            for i in labels.values():
                group = [y for x, y in zip(xs, ys, strict=True) if x == i]
                mean = sum(group) / len(group)
                std = math.sqrt(sum((y - mean) ** 2 for y in group) / (len(group) - 1)) if len(group) > 1 else 0.0
                ax.errorbar([i], [mean], yerr=[std], fmt="_", color="black", capsize=6, markersize=18)
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    fig.suptitle(f"sweep {sweep['sweep_id']} ({sweep['name']}): {metric} ({sweep['direction']})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path
