"""``torchrack runs report RUN... -o report.html``: one self-contained HTML file about runs.

For a pull request or an audit: the runs (status, duration, epochs, config hash), their final
metrics side by side, per-epoch curves as inline SVG (one chart per metric, one line per run),
what differs between them (components, environment, config, seed, metrics: the table of
``runs compare``), every component with its version and distribution, measurements, warnings,
and each run's full config (redacted). Everything is in the one file: no script, no style
sheet, font or image is loaded from anywhere, so it opens the same offline, attached to a pull
request or archived. The store is opened read-only; the file is written whole or not at all.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torchrack import TorchrackError
from torchrack.cli.output import clean

from torchrack_runs.cli._common import PATH

#: Line colours of the runs in charts (distinguishable with the common colour-vision deficiencies).
PALETTE = ("#1b6ca8", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#555555")

#: The report's own styles (inline; nothing is fetched).
CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2125; margin: 2rem auto;
       max-width: 1180px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem;
       border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; } h3 { font-size: 1rem; }
p.meta { color: #57606a; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.absent { color: #8c959f; } code, td.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace;
       font-size: 12.5px; }
.status-completed { color: #1a7f37; } .status-failed { color: #cf222e; } .status-interrupted,
.status-running { color: #9a6700; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; } figure { margin: 0; }
figcaption { font-weight: 600; margin-bottom: .2rem; } .legend span { margin-right: 1rem; white-space: nowrap; }
.swatch { display: inline-block; width: .9rem; height: .9rem; border-radius: 2px; vertical-align: -2px;
          margin-right: .3rem; }
svg text { font: 11px system-ui, sans-serif; fill: #57606a; } svg .grid { stroke: #eaeef2; }
svg .axis { stroke: #8c959f; } .warn { color: #9a6700; }
details { margin: .4rem 0; } summary { cursor: pointer; }
"""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``report`` to the ``runs`` subcommands."""
    p = sub.add_parser("report", parents=[common],
                       help="one self-contained HTML file comparing runs: curves, metrics, "
                            "differences, components (no network needed to open it)")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run ids or 'latest' (one or more)")
    p.add_argument("-o", "--output", required=True, type=PATH, metavar="FILE.html", help="the HTML file to write")
    p.add_argument("--metric", action="append", metavar="NAME",
                   help="epoch metric to chart (repeatable; default: every numeric one)")
    p.add_argument("--title", help="the report's title (default: names the runs)")


def run(store_path: Path, args: argparse.Namespace) -> int:
    """``runs report``: read the runs (read-only), write the HTML file, say where."""
    from torchrack_runs._store import RunStore
    from torchrack_runs.cli._gate import write_atomically

    out = Path(args.output)
    if out.suffix.lower() not in (".html", ".htm"):
        raise TorchrackError(f"runs report writes HTML: give -o a file ending in .html, not {out}")
    with RunStore(store_path, create=False, read_only=True) as store:
        records: list[dict[str, Any]] = []
        for ref in args.runs:
            record = store.get(ref)
            if all(r["run_id"] != record["run_id"] for r in records):
                records.append(record)
        where = str(store.path)
    metrics = list(args.metric or [])
    available = epoch_metrics(records)
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise TorchrackError(
            f"no run among {', '.join(r['run_id'] for r in records)} recorded the epoch metric "
            f"{', '.join(map(repr, unknown))}; choose from: {', '.join(available) or 'none'}")
    text = render(records, store=where, metrics=metrics or available, title=args.title)
    try:
        write_atomically(out, text)
    except OSError as exc:
        raise TorchrackError(f"cannot write the report {out}: {exc.strerror or exc}") from None
    print(f"wrote {out} ({len(text) // 1024 + 1} KiB): runs {', '.join(r['run_id'] for r in records)}, "
          f"{len(metrics or available)} curves; it loads nothing from the network")
    return 0


# -- values ----------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def epoch_metrics(records: Sequence[dict[str, Any]]) -> list[str]:
    """The numeric per-epoch metrics of ``records``, in first-seen order."""
    names: list[str] = []
    for r in records:
        for e in r.get("epochs") or []:
            for key, value in (e.get("metrics") or {}).items():
                if key not in names and _number(value) is not None:
                    names.append(key)
    return names


def _e(value: Any) -> str:
    """Escaped text for HTML (control characters shown as escapes, like the CLI's output)."""
    return html.escape(clean(str(value)), quote=True)


def _fmt(value: Any) -> str:
    number = _number(value)
    if number is not None:
        return f"{number:.6g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _cell(value: Any, *, mono: bool = False) -> str:
    from torchrack_runs.cli._runs import ABSENT

    if value is None or value == ABSENT:
        return f'<td class="absent">{_e(ABSENT)}</td>'
    cls = "num" if _number(value) is not None else ("mono" if mono else "")
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{_e(_fmt(value))}</td>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table of pre-rendered ``<td>`` cells (the first cell of a row becomes its ``<th>``)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _th(text: Any) -> str:
    return f'<th scope="row">{_e(text)}</th>'


def _when(ts: Any) -> str:
    number = _number(ts)
    if number is None:
        return "-"
    try:
        return _dt.datetime.fromtimestamp(number).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return _fmt(ts)


def _label(record: dict[str, Any]) -> str:
    return f"run {record['run_id']}" + (f" ({record['name']})" if record.get("name") else "")


# -- charts ----------------------------------------------------------------------------------------


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / max(ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def svg_chart(metric: str, series: Sequence[tuple[str, str, Sequence[tuple[float, float]]]],
              width: int = 540, height: int = 280) -> str:
    """An inline SVG line chart of ``metric``: ``series`` are ``(label, colour, [(epoch, value)])``;
    axes with ticks, one polyline and its points (with a tooltip each) per series."""
    left, right, top, bottom = 64, 14, 12, 38
    points = [p for _, _, pts in series for p in pts]
    xs = [p[0] for p in points] or [1.0]
    ys = [p[1] for p in points] or [0.0]
    x0, x1 = min(xs), max(xs)
    if x0 == x1:
        x0, x1 = x0 - 0.5, x1 + 0.5
    y0, y1 = min(ys), max(ys)
    pad = (y1 - y0) * 0.06 or (abs(y0) * 0.05 or 1.0)
    y0, y1 = y0 - pad, y1 + pad
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * plot_h

    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{_e(metric)} per epoch">']
    step = _nice_step(y1 - y0)
    tick = math.ceil(y0 / step) * step
    while tick <= y1 + step * 1e-9:
        y = sy(tick)
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_e(f"{tick:.4g}")}</text>')
        tick += step
    xstep = max(1, math.ceil(_nice_step(x1 - x0, 8)))
    xt = math.ceil(x0)
    while xt <= x1:
        x = sx(xt)
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 4}"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{xt}</text>')
        xt += xstep
    parts.append(f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}"/>')
    parts.append(f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - right}" '
                 f'y2="{top + plot_h}"/>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle">epoch</text>')
    for label, colour, pts in series:
        if not pts:
            continue
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
        for x, y in pts:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}">'
                         f"<title>{_e(label)}, epoch {x:g}: {_e(f'{y:.6g}')}</title></circle>")
    parts.append("</svg>")
    return "".join(parts)


def _curves(records: Sequence[dict[str, Any]], metrics: Sequence[str]) -> str:
    colours = {r["run_id"]: PALETTE[i % len(PALETTE)] for i, r in enumerate(records)}
    legend = "".join(f'<span><span class="swatch" style="background:{colours[r["run_id"]]}"></span>'
                     f"{_e(_label(r))}</span>" for r in records)
    charts = []
    for metric in metrics:
        series = []
        for r in records:
            pts = [(float(e["epoch"]), v) for e in r.get("epochs") or []
                   if (v := _number((e.get("metrics") or {}).get(metric))) is not None]
            series.append((_label(r), colours[r["run_id"]], pts))
        charts.append(f"<figure><figcaption>{_e(metric)}</figcaption>{svg_chart(metric, series)}</figure>")
    if not charts:
        return "<p>No per-epoch metrics were recorded (no run completed an epoch).</p>"
    return f'<p class="legend">{legend}</p><div class="charts">{"".join(charts)}</div>'


# -- sections --------------------------------------------------------------------------------------


def _runs_table(records: Sequence[dict[str, Any]]) -> str:
    from torchrack_runs.cli._runs import _duration

    rows = []
    for r in records:
        t = r.get("timings") or {}
        status = str(r.get("status"))
        rows.append([
            _th(r["run_id"]), _cell(r.get("name") or None),
            f'<td class="status-{_e(status)}">{_e(status)}</td>',
            _cell(_when(t.get("started_at"))), _cell(_duration(t.get("started_at"), t.get("ended_at"))),
            _cell(len(r.get("epochs") or [])), _cell(r.get("seed")),
            _cell(str(r.get("config_sha256", ""))[:12], mono=True), _cell(r.get("error")),
        ])
    return _table(("run", "name", "status", "started", "duration", "epochs", "seed", "config sha256",
                   "error"), rows)


def _by_key(records: Sequence[dict[str, Any]], values: Sequence[dict[str, Any]]) -> list[list[str]]:
    keys: list[str] = []
    for v in values:
        keys += [k for k in v if k not in keys]
    return [[_th(k), *(_cell(v.get(k)) for v in values)] for k in keys]


def _final_metrics(records: Sequence[dict[str, Any]]) -> str:
    from torchrack_runs.cli._runs import flatten

    scalars: list[dict[str, Any]] = []
    others: list[tuple[str, str, Any]] = []
    for r in records:
        flat = {}
        for key, value in (r.get("final_metrics") or {}).items():
            if isinstance(value, (list, dict)) and value:
                others.append((_label(r), key, value))
            else:
                flat.update(flatten(value, key))
        scalars.append(flat)
    rows = _by_key(records, scalars)
    out = (_table(("metric", *(_label(r) for r in records)), rows) if rows
           else "<p>No final metrics were recorded.</p>")
    for label, key, value in others:
        out += (f"<details><summary>{_e(key)} of {_e(label)}</summary>"
                f"<pre>{_e(json.dumps(value, default=str))}</pre></details>")
    return out


def _components(records: Sequence[dict[str, Any]]) -> str:
    per_run: list[dict[str, Any]] = []
    for r in records:
        facts: dict[str, Any] = {}
        for i, c in enumerate(r.get("components") or []):
            role = c.get("role") or f"{c.get('kind', 'component')}[{i}]"
            dist = " ".join(str(c.get(k)) for k in ("distribution", "distribution_version") if c.get(k))
            facts[role] = f"{c.get('name', '-')} {c.get('version', '')}".strip() + (f" ({dist})" if dist else "")
        per_run.append(facts)
    rows = _by_key(records, per_run)
    return (_table(("role", *(_label(r) for r in records)), rows) if rows
            else "<p>No components recorded.</p>")


def _differences(records: Sequence[dict[str, Any]]) -> str:
    from torchrack_runs.cli._runs import compare_records

    if len(records) < 2:
        return "<p>One run: nothing to compare (its full config is below).</p>"
    out = []
    for section, diffs in compare_records(records).items():
        if not diffs:
            out.append(f"<h3>{_e(section)}</h3><p>No differences.</p>")
            continue
        rows = [[_th(k), *(_cell(v, mono=section == "components" and k.endswith("files_sha256"))
                           for v in cells)] for k, cells in diffs.items()]
        out.append(f"<h3>{_e(section)} ({len(diffs)} differ)</h3>"
                   + _table(("key", *(_label(r) for r in records)), rows))
    return "".join(out)


def _measurements(records: Sequence[dict[str, Any]]) -> str:
    from torchrack_runs.cli._runs import flatten

    values = [flatten(r["measurements"]) if isinstance(r.get("measurements"), dict) else {}
              for r in records]
    if not any(values):
        return ""
    return ("<h2>Measurements</h2>"
            + _table(("measurement", *(_label(r) for r in records)), _by_key(records, values)))


def _warnings(records: Sequence[dict[str, Any]]) -> str:
    rows = []
    for r in records:
        for w in r.get("warnings") or []:
            if isinstance(w, dict):
                rows.append([_th(r["run_id"]), _cell(w.get("source")), _cell(w.get("hook")),
                             _cell(w.get("count", 1)), f'<td class="warn">{_e(w.get("message", ""))}</td>'])
    if not rows:
        return ""
    return "<h2>Warnings</h2>" + _table(("run", "source", "hook", "times", "message"), rows)


def _configs(records: Sequence[dict[str, Any]]) -> str:
    from torchrack_runs._redact import redact
    from torchrack_runs.cli._runs import flatten

    out = []
    for r in records:
        resolved = r.get("resolved_config")
        config = redact(resolved if isinstance(resolved, dict) else r.get("config") or {})
        env = flatten(r.get("environment") or {})
        rows = [[_th(k), _cell(v)] for k, v in flatten(config).items()]
        env_rows = [[_th(k), _cell(v)] for k, v in sorted(env.items())]
        kind = "resolved config (every default written out)" if isinstance(resolved, dict) else "config"
        out.append(f"<details{' open' if len(records) == 1 else ''}><summary>{_e(_label(r))}: {kind} "
                   f"and environment</summary>{_table(('key', 'value'), rows)}"
                   f"{_table(('environment', 'value'), env_rows)}</details>")
    return "".join(out)


def render(records: Sequence[dict[str, Any]], *, store: str, metrics: Sequence[str],
           title: str | None = None) -> str:
    """The whole report as one HTML document (inline CSS and SVG; nothing to fetch)."""
    from torchrack import __version__

    title = title or ("torchrack report: " + ", ".join(_label(r) for r in records))
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Generated {_e(now)} by torchrack {_e(__version__)} from the run store '
        f"<code>{_e(store)}</code>. Secrets are redacted.</p>",
        "<h2>Runs</h2>", _runs_table(records),
        "<h2>Final metrics</h2>", _final_metrics(records),
        "<h2>Curves per epoch</h2>", _curves(records, metrics),
        "<h2>Differences</h2>", _differences(records),
        "<h2>Components</h2>", _components(records),
        _measurements(records),
        _warnings(records),
        "<h2>Configs</h2>", _configs(records),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(part for part in body if part) + "\n</body>\n</html>\n")
