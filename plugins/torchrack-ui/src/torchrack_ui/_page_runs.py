"""The runs table (``/``) and the run page (``/runs/<id>``).

Both are whole HTML pages that work without JavaScript; ``dashboard.js`` then draws the curves
from the data block each page carries and, while a run is running, polls the JSON API and updates
the page in place (new epochs, status, final metrics) without reloading it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torchrack_ui._data import RunEntry, is_number, safe_record
from torchrack_ui._format import (
    ABSENT,
    Context,
    badge,
    fmt_duration,
    fmt_number,
    fmt_time,
    section,
    status_badge,
    table,
    value_cell,
)
from torchrack_ui._html import Markup, h, json_script, page, url
from torchrack_ui._views import (
    STATUSES,
    RunFilters,
    checkpoints,
    duration,
    flatten,
    metric_names,
    run_tags,
)

__all__ = ["run_page", "runs_page"]

#: Most metric columns in the runs table (the others are in each run's page).
MAX_METRIC_COLUMNS = 8


def _components_text(record: Mapping[str, Any]) -> str:
    return ", ".join(str(c.get("name", "?")) for c in record["components"])


def _sort_link(label: str, key: str, filters: RunFilters, sort: str, descending: bool) -> Markup:
    here = sort == key
    order = "asc" if here and descending else "desc"
    arrow = (" ▼" if descending else " ▲") if here else ""
    return h("a", label + arrow, href=url("/", query={**filters.as_query(), "sort": key, "order": order}),
             class_="sort active" if here else "sort", title=f"sort by {label}")


def _run_row(entry: RunEntry, metrics: Sequence[str]) -> Markup:
    record = entry.record
    if record is None:
        return h("tr",
                 h("td"), h("td", h("a", entry.run_id, href=url("/runs", entry.run_id))),
                 h("td", status_badge("unreadable")),
                 h("td", "this run's record cannot be read: ", h("span", entry.problem, class_="reason"),
                   colspan=str(5 + len(metrics))),
                 class_="unreadable", data_run_id=entry.run_id)
    rid = record["run_id"]
    timings = record.get("timings") or {}
    final = record["final_metrics"]
    cells = [
        h("td", h("input", type="checkbox", name="runs", value=rid, aria_label=f"select run {rid}")),
        h("td", h("a", rid, href=url("/runs", rid))),
        h("td", h("a", record["name"] or ABSENT, href=url("/runs", rid)), class_="name"),
        h("td", status_badge(record["status"]), data_field="status"),
        h("td", fmt_time(timings.get("started_at"))),
        h("td", fmt_duration(duration(record)), data_field="duration"),
        h("td", str(len(record["epochs"])), data_field="epochs", class_="num"),
    ]
    for name in metrics:
        value = final.get(name)
        cells.append(h("td", fmt_number(value) if is_number(value) else ABSENT, class_="num",
                       data_field=f"metric:{name}", title=repr(value) if is_number(value) else None))
    cells.append(h("td", _components_text(record), class_="components",
                   title="; ".join(run_tags(record))))
    return h("tr", cells, data_run_id=rid, class_=f"status-{record['status']}")


def runs_page(ctx: Context, entries: Sequence[RunEntry], total: int, matching: int,
              filters: RunFilters, sort: str, descending: bool) -> Markup:
    """The runs table: filters, sortable columns, a checkbox per run to compare them.

    ``total``: the runs in the store; ``matching``: those that pass the filters (``entries``
    holds the first of them, up to the limit)."""
    readable = [e.record for e in entries if e.record is not None]
    metrics = metric_names(readable)[:MAX_METRIC_COLUMNS]
    status_choice = h("select", [h("option", label or "any status", value=label,
                                   selected=filters.status == label)
                                 for label in ("", *STATUSES)], name="status", id="f-status")
    form = h("form",
             h("label", "status ", status_choice),
             h("label", "name ", h("input", type="search", name="name", value=filters.name,
                                   placeholder="part of the name", id="f-name")),
             h("label", "component ", h("input", type="search", name="component",
                                        value=filters.component, id="f-component",
                                        placeholder="small_cnn, loss:focal, acme-heads")),
             h("label", "tag ", h("input", type="search", name="tag", value=filters.tag,
                                  id="f-tag", placeholder="model.backbone=small_cnn")),
             h("input", type="hidden", name="sort", value=sort) if sort != "id" else None,
             h("input", type="hidden", name="order", value="desc" if descending else "asc")
             if sort != "id" else None,
             h("button", "filter", type="submit"),
             h("a", "clear", href="/", class_="clear") if filters.active else None,
             method="get", action="/", class_="filters")
    headers: list[Any] = [
        "", _sort_link("id", "id", filters, sort, descending),
        _sort_link("name", "name", filters, sort, descending),
        _sort_link("status", "status", filters, sort, descending),
        _sort_link("started", "started", filters, sort, descending),
        _sort_link("duration", "duration", filters, sort, descending),
        _sort_link("epochs", "epochs", filters, sort, descending),
        *(_sort_link(m, m, filters, sort, descending) for m in metrics),
        "components",
    ]
    rows = [_run_row(e, metrics) for e in entries]
    if not rows:
        empty = ("no run matches these filters" if filters.active and total
                 else "no runs recorded yet: `torchrack run CONFIG --store "
                 f"{ctx.store}` records one")
        rows = [h("tr", h("td", empty, colspan=str(len(headers)), class_="empty"))]
    noun = "run" if total == 1 else "runs"
    shown = f"{len(entries)} of {total} {noun}" if len(entries) != total else f"{total} {noun}"
    running = [e.record["run_id"] for e in entries if e.record and e.record["status"] == "running"]
    body = [
        h("h1", "Runs ", h("small", shown, id="runs-count")),
        form,
        h("form",
          h("table", h("thead", h("tr", [h("th", c) for c in headers])), h("tbody", rows),
            class_="runs", id="runs-table"),
          h("p", h("button", "compare selected runs", type="submit"),
            " (tick two or more)", class_="actions"),
          method="get", action="/compare", id="compare-form"),
        json_script("runs-data", {
            "poll": url("/api/runs", query={**filters.as_query(), "sort": sort,
                                            "order": "desc" if descending else "asc"}),
            "refresh_ms": ctx.refresh_ms, "running": running}),
    ]
    if matching > len(entries):
        query = {**filters.as_query(), "limit": "all"}
        if sort != "id":
            query.update(sort=sort, order="desc" if descending else "asc")
        body.append(h("p", f"showing the first {len(entries)} of {matching} runs; ",
                      h("a", "show all", href=url("/", query=query)), class_="note", id="runs-more"))
    return page("Runs", body, store=ctx.store, active="runs", version=ctx.version)


# -- the run page ----------------------------------------------------------------------------------


def _facts(record: Mapping[str, Any]) -> Markup:
    t = record.get("timings") or {}
    rows: list[tuple[str, Any]] = [
        ("run id", record["run_id"]),
        ("status", status_badge(record["status"], element_id="run-status")),
        ("started", fmt_time(t.get("started_at"))),
        ("ended", h("span", fmt_time(t.get("ended_at")), id="run-ended")),
        ("duration", h("span", fmt_duration(duration(record)), id="run-duration")),
        ("epochs", h("span", str(len(record["epochs"])), id="epoch-count")),
        ("seed", str(record.get("seed"))),
        ("config sha256", h("code", str(record.get("config_sha256")))),
    ]
    for key in ("train_seconds", "eval_seconds"):
        if is_number(t.get(key)):
            rows.append((key.replace("_", " "), fmt_duration(t[key])))
    if record.get("resume_of"):
        rows.append(("resume of", record["resume_of"]))
    tags = run_tags(record)
    if tags:
        rows.append(("tags", h("span", [badge(tag, "tag") for tag in tags])))
    return h("table", h("tbody", [h("tr", h("th", k), h("td", v)) for k, v in rows]), class_="facts")


def _epoch_rows(epochs: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    names: list[str] = []
    for e in epochs:
        names += [k for k in e["metrics"] if k not in names]
    rows = [[str(e["epoch"]), *(value_cell(e["metrics"].get(n)) if n in e["metrics"] else ABSENT
                                    for n in names)] for e in epochs]
    return names, rows


def _kv_table(obj: Any, empty: str = "none") -> Markup:
    return table(("key", "value"), [(h("code", k), value_cell(v)) for k, v in flatten(obj).items()
                                    if k], class_="kv", empty=empty)


def _components_table(rows: Sequence[Mapping[str, Any]]) -> Markup:
    def verdict(row: Mapping[str, Any]) -> Markup:
        installed = str(row.get("installed"))
        kind = "ok" if installed == "ok" and row.get("same") else (
            "warn" if installed == "ok" else "bad")
        label = installed if row.get("same") or installed != "ok" else "ok, other version"
        return h("span", badge(label, kind), " ", h("span", row.get("note"), class_="note"),
                 *(h("div", r, class_="reason") for r in row.get("reasons") or []))

    return table(
        ("role", "kind", "name", "version", "distribution", "files sha256", "installed now"),
        [(h("code", r.get("role")), r.get("kind"), r.get("name"), r.get("version"),
          f"{r.get('distribution')} {r.get('distribution_version')}",
          h("code", str(r.get("files_sha256") or "")[:12], title=r.get("files_sha256")), verdict(r))
         for r in rows], class_="components", empty="no components recorded")


def _checkpoint_table(items: Sequence[Mapping[str, Any]]) -> Markup:
    return table(
        ("", "epoch", "path", "size", "monitored"),
        [(badge(c["kind"] + (" · best" if c.get("best") else ""), "ok" if c["exists"] else "bad"),
          str(c["epoch"]) if c.get("epoch") is not None else ABSENT,
          h("code", c["path"]),
          f"{c['bytes'] / 1e6:.2f} MB" if c["exists"] and c.get("bytes") is not None else "missing",
          f"{c['monitor']} = {fmt_number(c['value'])}" if c.get("monitor") else ABSENT)
         for c in items], class_="checkpoints", body_id="checkpoints-body",
        empty="no checkpoint recorded")


def run_page(ctx: Context, record: Mapping[str, Any], components: Sequence[Mapping[str, Any]],
             curve_data: Mapping[str, Any]) -> Markup:
    """One run: facts, live curves and epochs, final metrics, evaluations, components with their
    verdicts, the resolved config (redacted), the environment, checkpoints, warnings."""
    shown = safe_record(dict(record))
    rid = shown["run_id"]
    names, epoch_rows = _epoch_rows(curve_data["epochs"])
    title = h("h1", h("span", shown["name"] or f"run {rid}", class_="run-name"), " ",
              h("small", f"run {rid}"), " ", status_badge(shown["status"]))
    parts: list[Any] = [title]
    if shown.get("error"):
        parts.append(h("p", h("strong", "error: "), shown["error"], class_="run-error", id="run-error"))
    else:
        parts.append(h("p", "", class_="run-error hidden", id="run-error"))
    stopped = shown.get("stopped")
    if isinstance(stopped, Mapping):
        parts.append(h("p", f"stopped after epoch {stopped.get('epoch')}: ", stopped.get("reason"),
                       f" ({stopped.get('by')})" if stopped.get("by") else "", class_="note"))
    previous = str(int(rid) - 1) if str(rid).isdigit() and int(rid) > 1 else None
    links = [h("a", "JSON record", href=url("/api/runs", rid)),
             h("a", "event data", href=url("/api/runs", rid, "curves"))]
    if previous:
        links.append(h("a", f"compare with run {previous}", href=url("/compare", query={"runs": f"{previous},{rid}"})))
    parts.append(h("p", links[0], " · ", links[1], *([" · ", links[2]] if previous else []), class_="links"))
    parts.append(h("div", _facts(shown), class_="facts-box"))
    parts.append(section("Curves", h("p", "live: new epochs appear as the run writes them"
                                     if shown["status"] == "running" else "", class_="note", id="live-note"),
                         h("div", h("p", "no epochs recorded yet", class_="empty"), id="curves", class_="charts"),
                         element_id="curves-section"))
    parts.append(section("Epochs", table(("epoch", *names), epoch_rows, class_="epochs",
                                         element_id="epochs-table", body_id="epochs-body",
                                         empty="no epochs recorded yet")))
    parts.append(section("Final metrics", table(("metric", "value"),
                                                [(h("code", k), value_cell(v, full=True))
                                                 for k, v in flatten(shown["final_metrics"]).items() if k],
                                                body_id="final-body", empty="none recorded yet")))
    evals = shown.get("evaluations") or []
    if evals:
        parts.append(section("Evaluations", table(
            ("split", "source", "when", "checkpoint", "metrics"),
            [(e.get("split"), e.get("source"), fmt_time(e.get("time")), h("code", e.get("checkpoint") or ABSENT),
              ", ".join(f"{k}={fmt_number(v)}" for k, v in (e.get("metrics") or {}).items()))
             for e in evals if isinstance(e, Mapping)])))
    parts.append(section("Components", _components_table(components)))
    parts.append(section("Resolved config", h("p", "secrets are redacted by the run store; they are "
                                               "never shown", class_="note"), _kv_table(shown["config"]),
                         element_id="config"))
    parts.append(section("Environment", _kv_table(shown["environment"]), element_id="environment"))
    parts.append(section("Checkpoints", _checkpoint_table(checkpoints(shown)), element_id="checkpoints"))
    warnings = shown.get("warnings")
    if isinstance(warnings, list) and warnings:
        parts.append(section("Warnings", table(
            ("source", "message", "when"),
            [(w.get("source") or w.get("hook") or ABSENT, w.get("message"), fmt_time(w.get("time")))
             for w in warnings if isinstance(w, Mapping)])))
    parts.append(json_script("run-data", {
        "run_id": rid, "status": shown["status"], "curves": curve_data,
        "poll": url("/api/runs", rid, "curves"), "refresh_ms": ctx.refresh_ms,
    }))
    return page(f"run {rid}: {shown['name']}", parts, store=ctx.store, active="runs", version=ctx.version)
