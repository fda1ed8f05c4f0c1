"""``torchrack runs list|show|compare|plot``: look at the runs recorded in the run store.

Every subcommand takes ``--store PATH`` (default ``$TORCHRACK_STORE`` or
``./.torchrack/runs.sqlite``); a store that does not exist is an error, never created here. A
store that cannot be written (a read-only file, folder or file system) is opened read-only and
left unchanged; a writable one is opened as usual, so runs whose process died are marked
interrupted. Values are shown on one line each: a newline in a run name cannot forge a row.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torchrack import TorchrackError
from torchrack.cli.output import print_json, table

from torchrack_runs._redact import redact
from torchrack_runs._store import RunStore
from torchrack_runs.cli import _gate, _report
from torchrack_runs.cli._common import PATH

#: Marks a value that a run does not have at all.
ABSENT = "-"

PLOT_HINT = "pip install 'torchrack[plot]'"


class PlotUnavailableError(TorchrackError):
    """``runs plot`` needs matplotlib, an optional extra."""


class UnknownMetricError(TorchrackError, LookupError):
    """A ``--metric`` that none of the plotted runs recorded per epoch."""

    def __str__(self) -> str:
        return str(self.args[0])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``list``, ``show``, ``compare`` and ``plot`` subcommands."""
    parser.add_argument("--store", metavar="PATH", type=PATH, help="run store (default: $TORCHRACK_STORE "
                        "or ./.torchrack/runs.sqlite)")
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a --store given before the subcommand is not overwritten by the default here.
    common.add_argument("--store", metavar="PATH", type=PATH, default=argparse.SUPPRESS,
                        help="run store (default: $TORCHRACK_STORE or ./.torchrack/runs.sqlite)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("list", parents=[common], help="recorded runs, newest first")
    p.add_argument("--limit", type=_count, default=None, metavar="N", help="only the N newest runs")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("show", parents=[common], help="one run's full record")
    p.add_argument("run", metavar="RUN", help="a run id or 'latest'")
    p.add_argument("--json", action="store_true", help="the run record as JSON")
    p.add_argument("--config", action="store_true",
                   help="only the run's resolved config, every default written out, as TOML: "
                        "`torchrack runs show RUN --config > again.toml && torchrack run again.toml`")

    p = sub.add_parser("compare", parents=[common],
                       help="what differs between runs: components, environment, config, metrics")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run ids or 'latest' (two or more)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("plot", parents=[common], help="training curves of runs on one figure")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run ids or 'latest'")
    p.add_argument("-o", "--output", required=True, type=PATH, metavar="FILE.png", help="image to write")
    p.add_argument("--metric", action="append", metavar="NAME",
                   help="epoch metric to plot (repeatable; default: every numeric one)")
    _gate.add_parser(sub, common)
    _report.add_parser(sub, common)


def _count(text: str) -> int:
    """``--limit N``: a whole number of 1 or more."""
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of runs, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more runs, not {value}")
    return value


def run(args: argparse.Namespace) -> int:
    """Dispatch to the subcommand; return the exit code."""
    path = Path(args.store) if getattr(args, "store", None) else RunStore.default_path()
    if args.action in ("gate", "report"):  # they open the store read-only themselves
        return int({"gate": _gate.run, "report": _report.run}[args.action](path, args))
    # read_only=None: read-only exactly when this process cannot write the store.
    store = RunStore(path, create=False, read_only=None)
    try:
        action = {"list": _list, "show": _show, "compare": _compare, "plot": _plot}[args.action]
        return action(store, args)
    finally:
        store.close()


# -- formatting ------------------------------------------------------------------------------------


def _finite(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _when(ts: Any) -> str:
    if not _finite(ts):
        return ABSENT
    try:
        return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):  # a time no calendar reaches: show the number
        return _value(ts)


def _duration(start: Any, end: Any) -> str:
    if not _finite(start) or not _finite(end):
        return ABSENT
    seconds = max(0.0, float(end) - float(start))
    if not math.isfinite(seconds):
        return ABSENT
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"


def _line(text: Any) -> str:
    """``text`` on one line: newlines and tabs written as ``\\n`` and ``\\t``, as the CLI writes
    every other control character, so that a value cannot start a fake row of a table."""
    return str(text).replace("\r\n", "\n").replace("\n", "\\n").replace("\t", "\\t")


def _value(value: Any) -> str:
    """A value for a table cell: floats in full (shortest exact repr), others as JSON."""
    if isinstance(value, str):
        return _line(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, sort_keys=True, default=str)


def _short_metrics(metrics: dict[str, Any], limit: int = 4) -> str:
    parts = []
    for key, value in list(metrics.items())[:limit]:
        text = f"{value:.4g}" if isinstance(value, float) else _value(value)
        parts.append(f"{key}={text}")
    if len(metrics) > limit:
        parts.append("...")
    return " ".join(parts) or ABSENT


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": [{"c": 1}]}}`` -> ``{"a.b[0].c": 1}``; empty containers are kept as leaves."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict) and obj:
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(obj, list) and obj:
        for i, value in enumerate(obj):
            out.update(flatten(value, f"{prefix}[{i}]"))
    else:
        out[prefix] = obj
    return out


# -- list ------------------------------------------------------------------------------------------


def _list(store: RunStore, args: argparse.Namespace) -> int:
    rows = store.list_runs(args.limit)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"no runs recorded in {store.path} yet; `torchrack run CONFIG` records one")
        return 0
    print(table(
        ("ID", "NAME", "STATUS", "STARTED", "DURATION", "EPOCHS", "FINAL METRICS"),
        [(r["run_id"], _line(r["name"] or ABSENT), _line(r["status"]), _when(r["started_at"]),
          _duration(r["started_at"], r["ended_at"]), r["epochs"], _short_metrics(r["final_metrics"]))
         for r in rows],
    ))
    print(f"\n{len(rows)} runs in {store.path}; `torchrack runs show ID` shows one")
    return 0


# -- show ------------------------------------------------------------------------------------------


def _show(store: RunStore, args: argparse.Namespace) -> int:
    record = store.get(args.run)
    if getattr(args, "config", False):
        return _show_config(record)
    if args.json:
        print_json(record)
        return 0
    # The store keeps configs redacted; redact again so that older records never leak.
    config = redact(record["config"])
    t = record["timings"]
    print(f"run {record['run_id']}: {_line(record['name'] or ABSENT)}  [{_line(record['status'])}]")
    if record.get("error"):
        print(f"error: {record['error']}")
    print(f"started {_when(t.get('started_at'))}, ended {_when(t.get('ended_at'))} "
          f"({_duration(t.get('started_at'), t.get('ended_at'))})")
    print(f"seed {record['seed']}, config sha256 {record['config_sha256']}")
    if record.get("checkpoint"):
        epoch = record.get("checkpoint_epoch")
        print(f"checkpoint {record['checkpoint']}" + (f" (after epoch {epoch})" if epoch is not None else ""))
    for link in record.get("pretrained_from") or []:
        if isinstance(link, dict):
            print(f"{_line(link.get('role'))} pre-trained in run {_line(link.get('run_id'))} "
                  f"(its checkpoint of epoch {_line(link.get('epoch'))}: {_line(link.get('checkpoint'))})")
    for kept in record.get("checkpoints") or []:
        if isinstance(kept, dict):
            print(f"kept checkpoint of epoch {_line(kept.get('epoch'))}: {_line(kept.get('path'))} "
                  f"({_line(kept.get('monitor'))} {_value(kept.get('value'))})"
                  + (" best" if kept.get("best") else ""))
    stopped = record.get("stopped")
    if isinstance(stopped, dict):
        where = f"epoch {_line(stopped.get('epoch'))}" + (
            f", step {_line(stopped['step'])}" if stopped.get("step") else "")
        print(f"stopped at {where}: {_line(stopped.get('reason'))}")
    comps = record["components"]
    if comps:
        print("\ncomponents:")
        print(_indent(table(
            ("ROLE", "KIND", "NAME", "VERSION", "DISTRIBUTION", "FILES SHA256"),
            [(c.get("role", ABSENT), c.get("kind", ABSENT), c.get("name", ABSENT),
              c.get("version", ABSENT), f"{c.get('distribution', ABSENT)} {c.get('distribution_version', '')}",
              str(c.get("files_sha256", ABSENT))[:12]) for c in comps],
        )))
    print("\nenvironment:")
    print(_indent(table(("KEY", "VALUE"), sorted(
        (k, _value(v)) for k, v in flatten(record["environment"]).items()))))
    print("\nconfig:")
    print(_indent(table(("KEY", "VALUE"), [(k, _value(v)) for k, v in flatten(config).items()])))
    epochs = record["epochs"]
    if epochs:
        names = _metric_names([e["metrics"] for e in epochs])
        print("\nepochs:")
        print(_indent(table(("EPOCH", *names), [
            (e["epoch"], *(_cell(e["metrics"].get(n, ABSENT)) for n in names)) for e in epochs
        ])))
    if record.get("evaluations"):
        print("\nevaluations:")
        print(_indent(table(("SPLIT", "SOURCE", "WHEN", "METRICS"), [
            (e.get("split", ABSENT), e.get("source", ABSENT), _when(e.get("time")),
             _short_metrics(e.get("metrics", {}), limit=8)) for e in record["evaluations"]
        ])))
    print("\nfinal metrics:")
    final = flatten(record["final_metrics"])
    if record["final_metrics"]:
        print(_indent(table(("METRIC", "VALUE"), [(k, _value(v)) for k, v in final.items()])))
    else:
        print("  none recorded")
    from torchrack_runs.cli._eval import calibration_lines, measurement_lines

    for line in [*measurement_lines(record.get("measurements")), *calibration_lines(record.get("calibration"))]:
        print(line)
    timing_rows = [(k, _value(v)) for k, v in t.items() if k not in ("started_at", "ended_at")]
    if timing_rows:
        print("\ntimings:")
        print(_indent(table(("KEY", "VALUE"), timing_rows)))
    return 0


def _show_config(record: dict[str, Any]) -> int:
    """Print the record's resolved config as TOML (an older record: its config as given)."""
    from torchrack_runs._toml import toml_dumps

    resolved = record.get("resolved_config")
    config = redact(resolved if isinstance(resolved, dict) else record["config"])
    if not isinstance(resolved, dict):
        print(f"# run {record['run_id']} was recorded before resolved configs were kept: this is "
              "its config as given (defaults of that time not written out)")
    else:
        print(f"# the resolved config of run {record['run_id']} ({_line(record['name'])}); "
              "secrets, if any, show as redacted: put them back before running it")
    sys.stdout.write(toml_dumps(config))
    return 0


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _cell(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else _value(value)


def _metric_names(metric_dicts: Sequence[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for metrics in metric_dicts:
        for key in metrics:
            if key not in names:
                names.append(key)
    return names


# -- compare ---------------------------------------------------------------------------------------


def _component_facts(components: list[dict[str, Any]]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for i, c in enumerate(components):
        role = c.get("role") or f"{c.get('kind', 'component')}[{i}]"
        facts[f"{role}.name"] = c.get("name")
        facts[f"{role}.version"] = c.get("version")
        facts[f"{role}.distribution"] = c.get("distribution")
        facts[f"{role}.distribution_version"] = c.get("distribution_version")
        facts[f"{role}.files_sha256"] = c.get("files_sha256")
    return facts


_MISSING = object()


def _differences(values: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys: list[str] = []
    for v in values:
        keys += [k for k in v if k not in keys]
    diffs: dict[str, list[Any]] = {}
    for key in keys:
        cells = [v.get(key, _MISSING) for v in values]
        if any(_dumps(c) != _dumps(cells[0]) for c in cells[1:]):
            diffs[key] = cells
    return diffs


def _dumps(value: Any) -> str:
    return "<absent>" if value is _MISSING else json.dumps(value, sort_keys=True, default=str)


def compare_records(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    """What differs between run records, by section: components, environment, config, seed,
    metrics, measurements (with calibration: docs/evaluation.md). Each section maps a flattened key to one value per run (:data:`ABSENT` when a run
    lacks the key); a section with no differences is empty."""
    from torchrack_runs.cli._eval import calibration_facts, measurement_facts

    sections = {
        "components": [_component_facts(r["components"]) for r in records],
        "environment": [flatten(r["environment"]) for r in records],
        "config": [flatten(redact(r["config"])) for r in records],
        "seed": [{"seed": r["seed"]} for r in records],
        "metrics": [flatten(r["final_metrics"]) for r in records],
        "measurements": [{**measurement_facts(r.get("measurements")),
                          **calibration_facts(r.get("calibration"))} for r in records],
    }
    out: dict[str, dict[str, list[Any]]] = {}
    for name, values in sections.items():
        out[name] = {
            key: [ABSENT if c is _MISSING else c for c in cells]
            for key, cells in _differences(values).items()
        }
    return out


def _compare(store: RunStore, args: argparse.Namespace) -> int:
    if len(args.runs) < 2:
        raise TorchrackError("runs compare needs two or more runs, e.g. `torchrack runs compare 3 4`")
    records = [store.get(ref) for ref in args.runs]
    diffs = compare_records(records)
    ids = [r["run_id"] for r in records]
    if args.json:
        print_json({
            "runs": ids,
            "differences": diffs,
            "same": {name: not d for name, d in diffs.items()},
        })
        return 0
    print(f"comparing runs {', '.join(ids)} ({store.path})\n")
    header = ("", *(f"run {i}" for i in ids))
    print(table(header, [
        ("name", *(r["name"] or ABSENT for r in records)),
        ("status", *(r["status"] for r in records)),
        ("config sha256", *(r["config_sha256"][:12] for r in records)),
        ("epochs", *(len(r["epochs"]) for r in records)),
    ]))
    titles = {
        "components": "components", "environment": "environment", "config": "config",
        "seed": "seed", "metrics": "metrics", "measurements": "measurements and calibration",
    }
    for name, title in titles.items():
        d = diffs[name]
        if not d:
            print(f"\nno differences in {title}")
            continue
        print(f"\n{title} ({len(d)} differ):")
        rows = [(key, *(_compare_cell(name, key, v) for v in cells)) for key, cells in d.items()]
        print(_indent(table(("KEY", *(f"run {i}" for i in ids)), rows)))
    return 0


def _compare_cell(section: str, key: str, value: Any) -> str:
    if section == "components" and key.endswith(".files_sha256") and isinstance(value, str):
        return value[:12]
    return _value(value)


# -- plot ------------------------------------------------------------------------------------------


def _plot(store: RunStore, args: argparse.Namespace) -> int:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:
        raise PlotUnavailableError(
            f"runs plot needs matplotlib, which is not installed ({exc}); "
            f"install the plot extra: {PLOT_HINT}"
        ) from None
    records = [store.get(ref) for ref in args.runs]
    available = _metric_names([
        {k: v for k, v in e["metrics"].items() if _numeric(v)}
        for r in records for e in r["epochs"]
    ])
    if not available:
        raise TorchrackError(
            f"runs {', '.join(r['run_id'] for r in records)} have no per-epoch metrics to plot "
            "(they recorded no complete epoch)"
        )
    metrics = args.metric or available
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise UnknownMetricError(
            f"no run among {', '.join(r['run_id'] for r in records)} recorded the epoch metric "
            f"{', '.join(map(repr, unknown))}; choose from: {', '.join(available)}"
        )
    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise TorchrackError(f"runs plot writes PNG images: give -o a file ending in .png, not {out}")
    cols = min(len(metrics), 2)
    rows = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 4 * rows), squeeze=False)
    try:
        for ax, metric in zip(axes.flat, metrics, strict=False):
            for r in records:
                points = [(e["epoch"], e["metrics"][metric]) for e in r["epochs"]
                          if _numeric(e["metrics"].get(metric))]
                if points:
                    xs, ys = zip(*points, strict=True)
                    label = f"run {r['run_id']}" + (f" ({r['name']})" if r["name"] else "")
                    ax.plot(xs, ys, marker="o", label=label)
            ax.set_title(metric)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are 1..N
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize="small")
        for ax in list(axes.flat)[len(metrics):]:
            ax.set_visible(False)
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png", dpi=100)
    finally:
        plt.close(fig)
    print(f"wrote {out}: {', '.join(metrics)} per epoch for runs "
          f"{', '.join(r['run_id'] for r in records)}")
    return 0


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
