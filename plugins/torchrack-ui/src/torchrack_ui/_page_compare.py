"""The compare page (``/compare?runs=<id>,<id>``): what differs between runs, and their curves.

The differences table has one column per run and one row per key that differs, by section
(components, config, metrics, environment, seed); ``dashboard.js`` overlays the runs' per-epoch
curves, one chart per metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torchrack_ui._data import RunEntry
from torchrack_ui._format import ABSENT, Context, badge, section, status_badge, table, value_cell
from torchrack_ui._html import Markup, h, json_script, page, url

__all__ = ["compare_page"]

TITLES = {"components": "Components", "config": "Config", "metrics": "Final metrics",
          "environment": "Environment", "seed": "Seed"}


def compare_page(ctx: Context, records: Sequence[Mapping[str, Any]], unreadable: Sequence[RunEntry],
                 diffs: Mapping[str, Mapping[str, list[Any]]],
                 absent: Mapping[str, Mapping[str, list[bool]]],
                 epochs: Mapping[str, Any]) -> Markup:
    """The comparison of ``records`` (two or more readable runs); ``unreadable`` runs are named."""
    ids = [str(r["run_id"]) for r in records]
    heads = ["", *(h("a", f"run {i}", href=url("/runs", i)) for i in ids)]
    overview = table(heads, [
        ("name", *(h("span", r["name"] or ABSENT, class_="run-name") for r in records)),
        ("status", *(status_badge(r["status"]) for r in records)),
        ("epochs", *(str(len(r["epochs"])) for r in records)),
        ("config sha256", *(h("code", str(r.get("config_sha256", ""))[:12]) for r in records)),
    ], class_="compare-overview")
    parts: list[Any] = [h("h1", "Compare ", h("small", ", ".join(f"run {i}" for i in ids)))]
    for entry in unreadable:
        parts.append(h("p", badge("unreadable", "bad"), f" run {entry.run_id} is left out: ",
                       entry.problem, class_="note"))
    parts.append(overview)
    parts.append(section("Curves", h("div", h("p", "no epochs recorded", class_="empty"),
                                     id="compare-curves", class_="charts")))
    changed = sum(len(d) for d in diffs.values())
    parts.append(h("h2", "Differences ", h("small", f"{changed} keys differ")))
    for name, title in TITLES.items():
        rows = diffs.get(name) or {}
        if not rows:
            parts.append(h("p", f"{title}: no differences", class_="same", data_section=name))
            continue
        missing = absent.get(name) or {}
        body = []
        for key, cells in rows.items():
            flags = missing.get(key) or [False] * len(cells)
            body.append((h("code", key), *(h("span", "absent", class_="absent") if flag else value_cell(c)
                                           for c, flag in zip(cells, flags, strict=True))))
        parts.append(section(f"{title} ({len(rows)} differ)",
                             table(("key", *(f"run {i}" for i in ids)), body,
                                   class_=f"diff diff-{name}"), element_id=f"diff-{name}"))
    parts.append(json_script("compare-data", {
        "runs": [{"run_id": str(r["run_id"]), "name": r["name"]} for r in records],
        "epochs": epochs,
    }))
    return page("compare " + ", ".join(ids), parts, store=ctx.store, active="runs", version=ctx.version)
