"""``torchrack sweep``: run an ablation or hyperparameter sweep of a config; look at its results.

    torchrack sweep SWEEP.toml [--set K=V] [--jobs N] [--executor local|ray] [--address ADDR]
                               [--devices cuda:0,cuda:1] [--store PATH]
    torchrack sweep --resume ID [--jobs N] ...        only the trials not completed
    torchrack sweep list [--json]
    torchrack sweep show ID|latest [--json] [--best-config]
    torchrack sweep ablation ID|latest [--json]
    torchrack sweep plot ID|latest -o FILE.png

Every trial is checked (schema, components, tensor contracts on the meta device, the objective)
before any compute; each is an ordinary run in the run store, tagged with its sweep and point.
See docs/sweeps.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from torchrack import TorchrackError
from torchrack.cli.output import print_json, table

from torchrack_runs._store import RunStore
from torchrack_runs._sweep_config import point_text, spec_from_document, value_label
from torchrack_runs._sweep_results import ablation, point_rows
from torchrack_runs.cli._common import PATH

ACTIONS = ("list", "show", "ablation", "plot")

#: Options of running a sweep, and of each action (the others are refused with it).
RUN_ONLY = (("overrides", "--set"), ("jobs", "--jobs"), ("executor", "--executor"),
            ("address", "--address"), ("devices", "--devices"), ("resume", "--resume"))
ACTION_ONLY = {"json": ("list", "show", "ablation"), "best_config": ("show",), "output": ("plot",)}


def _jobs(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of workers, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more workers, not {value} (each worker "
                                         "runs one trial at a time)")
    return value


def _devices(text: str) -> list[str]:
    devices = [d.strip() for d in text.split(",") if d.strip()]
    if not devices:
        raise argparse.ArgumentTypeError("expected a comma-separated list of devices, e.g. cuda:0,cuda:1")
    return devices


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = ("torchrack sweep SWEEP.toml [--set K=V] [--jobs N] [--executor local|ray] "
                    "[--address ADDR] [--devices LIST] [--store PATH]\n"
                    "       torchrack sweep --resume ID [--jobs N] [--executor local|ray] ...\n"
                    "       torchrack sweep list|show|ablation|plot ID [--json] [--best-config] "
                    "[-o FILE.png]")
    parser.epilog = ("Every trial is checked before any compute and recorded as a run tagged with its "
                     "sweep and point. The sweep file, every setting and the Ray setup: docs/sweeps.md")
    parser.add_argument("target", nargs="?", metavar="SWEEP.toml|ACTION",
                        help="a sweep file to run, or list, show, ablation, plot")
    parser.add_argument("sweep", nargs="?", metavar="ID", help="show/ablation/plot: a sweep id or 'latest'")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one value of every trial's config (repeatable)")
    parser.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                        help="trials at a time (default 1); the CPU threads are shared among them")
    parser.add_argument("--executor", choices=("local", "ray"), default=None,
                        help="local worker processes (default) or Ray tasks")
    parser.add_argument("--address", metavar="ADDR", help="--executor ray: the cluster (ray://host:10001 "
                        "or host:6379; default: a local Ray instance)")
    parser.add_argument("--devices", type=_devices, default=None, metavar="cuda:0,cuda:1",
                        help="one trial per CUDA device (CUDA_VISIBLE_DEVICES), as many at a time")
    parser.add_argument("--resume", metavar="ID", help="continue sweep ID: run only what is not completed")
    parser.add_argument("--store", metavar="PATH", type=PATH, help="run store (default: $TORCHRACK_STORE or "
                        "./.torchrack/runs.sqlite)")
    parser.add_argument("--json", action="store_true", help="list/show/ablation: machine-readable output")
    parser.add_argument("--best-config", action="store_true",
                        help="show: only the best point's config, as a runnable TOML")
    parser.add_argument("-o", "--output", type=PATH, metavar="FILE.png", help="plot: the image to write")


def _refuse(args: argparse.Namespace, action: str | None) -> None:
    if action is None:
        for dest, given in ACTION_ONLY.items():
            if getattr(args, dest):
                flag = "--" + dest.replace("_", "-") if dest != "output" else "-o"
                raise TorchrackError(f"{flag} is for `torchrack sweep {'/'.join(given)}`, not for "
                                     "running a sweep")
        if args.sweep is not None:
            raise TorchrackError(f"unexpected argument {args.sweep!r}: running a sweep takes one sweep "
                                 "file (use --resume ID to continue one)")
        return
    for dest, flag in RUN_ONLY:
        if getattr(args, dest):
            raise TorchrackError(f"{flag} is for running a sweep, not for `torchrack sweep {action}`")
    for dest, given in ACTION_ONLY.items():
        if getattr(args, dest) and action not in given:
            flag = "--" + dest.replace("_", "-") if dest != "output" else "-o"
            raise TorchrackError(f"{flag} is for `torchrack sweep {'/'.join(given)}`, not {action}")


def run(args: argparse.Namespace) -> int:
    action = args.target if args.target in ACTIONS and not Path(args.target).is_file() else None
    _refuse(args, action)
    store_path = Path(args.store).expanduser() if args.store else RunStore.default_path()
    if action is None:
        return _run(args, store_path)
    if action != "list" and args.sweep is None:
        raise TorchrackError(f"`torchrack sweep {action}` needs a sweep: an id or 'latest'")
    if action == "list" and args.sweep is not None:
        raise TorchrackError(f"`torchrack sweep list` takes no sweep (found {args.sweep!r})")
    if action == "plot" and not args.output:
        raise TorchrackError("`torchrack sweep plot` needs -o FILE.png, the image to write")
    if not store_path.is_file():
        raise TorchrackError(f"no run store at {store_path}: run a sweep first, or give --store PATH")
    with RunStore(store_path, create=False, read_only=None) as store:
        if action == "list":
            return _list(store, args)
        sweep = store.get_sweep(args.sweep)
    return {"show": _show, "ablation": _ablation, "plot": _plot}[action](sweep, args)


def _run(args: argparse.Namespace, store_path: Path) -> int:
    from torchrack_runs._sweep_run import SweepOptions, run_sweep

    options = SweepOptions(jobs=args.jobs, executor=args.executor or "local",
                           address=args.address, devices=args.devices or [])
    if args.target is None and args.resume is None:
        raise TorchrackError("give a sweep file (torchrack sweep SWEEP.toml) or --resume ID")

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    sweep = run_sweep(args.target, args.overrides, options, store_path=store_path,
                      resume=args.resume, log=log)
    _print_table(sweep)
    failed = sum(t["status"] not in ("completed", "pruned") for t in sweep["trials"])
    print(f"\nsweep {sweep['sweep_id']} {sweep['status']}"
          + (f" ({failed} trial(s) failed: `torchrack sweep show {sweep['sweep_id']}` lists them; "
             f"`torchrack sweep --resume {sweep['sweep_id']}` runs them again)" if failed else "")
          + f"; recorded in {store_path}", file=sys.stderr)
    return 0 if sweep["status"] == "completed" else 1


# -- list and show -----------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def _list(store: RunStore, args: argparse.Namespace) -> int:
    rows = store.list_sweeps()
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"no sweeps recorded in {store.path} yet; `torchrack sweep SWEEP.toml` records one")
        return 0
    print(table(("ID", "NAME", "STATUS", "METHOD", "OBJECTIVE", "TRIALS", "BEST"),
                [(r["sweep_id"], r["name"], r["status"], r["method"],
                  f"{r['objective']} ({r['direction'][:3]})",
                  f"{r['done']}/{r['trials']} done, {r['failed']} failed",
                  _fmt((r["best"] or {}).get("mean"))) for r in rows]))
    return 0


def _keys(sweep: dict[str, Any]) -> list[str]:
    """The swept keys in the sweep file's order."""
    return list((sweep.get("settings") or {}).get("keys") or sweep["parameters"])


def _point(sweep: dict[str, Any], point: dict[str, Any], limit: int = 60) -> str:
    keys = _keys(sweep)
    ordered = {k: point[k] for k in keys if k in point} | point
    return point_text(ordered, limit)


def _cell(value: Any) -> str:
    """A point's value in a table: floats to 4 significant digits, the rest as the tables say."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return value_label(value, 50)


def _print_table(sweep: dict[str, Any]) -> None:
    keys = _keys(sweep)
    rows = point_rows(sweep["trials"], sweep["direction"])
    metric = sweep["objective"]["metric"]
    print(f"sweep {sweep['sweep_id']} ({sweep['name']}): {sweep['method']}, {metric} "
          f"({sweep['direction']}), {sweep['status']}")
    body = []
    for rank, r in enumerate(rows, 1):
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(r["statuses"].items()))
        spread = "-" if r["mean"] is None else f"{r['mean']:.4f} +- {r['std']:.4f}"
        body.append((rank, *(_cell(r["point"].get(k)) for k in keys), spread, r["n"],
                     r["best_run"] or "-", statuses))
    print(table(("#", *keys, metric.upper() + " (MEAN +- STD)", "SEEDS", "BEST RUN", "TRIALS"), body))


def _show(sweep: dict[str, Any], args: argparse.Namespace) -> int:
    if args.best_config:
        return _best_config(sweep)
    if args.json:
        print_json({**sweep, "points": point_rows(sweep["trials"], sweep["direction"])})
        return 0
    _print_table(sweep)
    failed = [t for t in sweep["trials"] if t["status"] not in ("completed", "pruned", "pending")]
    for t in failed:
        first = (t["error"] or "").strip().splitlines()[:1]
        print(f"  trial {t['trial']} (seed {t['seed']}, {_point(sweep, t['point'], 40)}): {t['status']}"
              + (f": {first[0]}" if first else ""))
    best = sweep.get("best")
    if best:
        print(f"\nbest: {_point(sweep, best['point'])} ({sweep['objective']['metric']} "
              f"{best['mean']:.4f} +- {best['std']:.4f} over {best['seeds']} seed(s); run "
              f"{best['run_id']}); `torchrack sweep show {sweep['sweep_id']} --best-config > best.toml`")
    if sweep.get("error") and sweep["status"] != "completed":
        print(f"\n{sweep['status']}: {sweep['error']}")
    return 0


def _best_config(sweep: dict[str, Any]) -> int:
    from torchrack_runs._toml import toml_dumps

    best = sweep.get("best")
    if not best:
        raise TorchrackError(f"sweep {sweep['sweep_id']} has no completed trial, so no best point yet")
    spec = spec_from_document(sweep["config"], str(sweep["source"]))
    run_id = best.get("run_id")
    seed = next((t["seed"] for t in sweep["trials"] if t["run_id"] == run_id), spec.seeds[0])
    config = spec.trial_config(best["point"], seed=int(seed))
    config.setdefault("run", {})["name"] = f"{spec.name}-best"
    print(f"# The best point of sweep {sweep['sweep_id']} ({sweep['name']}): {_point(sweep, best['point'])}")
    print(f"# {sweep['objective']['metric']} {best['mean']:.4f} +- {best['std']:.4f} over "
          f"{best['seeds']} seed(s); run it with `torchrack run best.toml`")
    print(toml_dumps(config), end="")
    return 0


# -- ablation and plot -------------------------------------------------------------------------------


def _ablation(sweep: dict[str, Any], args: argparse.Namespace) -> int:
    keys = _keys(sweep)
    result = ablation(sweep["trials"], keys, sweep["direction"])
    if args.json:
        print_json(result)
        return 0
    best = result["best"]
    if best is None:
        raise TorchrackError(f"sweep {sweep['sweep_id']} has no completed trial yet: nothing to compare")
    metric = sweep["objective"]["metric"]
    print(f"sweep {sweep['sweep_id']} ablation from the best point ({_point(sweep, best['point'])}: "
          f"{metric} {best['mean']:.4f} +- {best['std']:.4f})")
    for factor in result["factors"]:
        print(f"\n{factor['key']}: range {factor['range']:.4f}")
        rows = [(value_label(lv["value"], 50) + ("  (best)" if lv["is_best"] else ""),
                 f"{lv['mean']:.4f} +- {lv['std']:.4f}", lv["n"], f"{lv['delta']:+.4f}")
                for lv in factor["levels"]]
        print(table(("VALUE", f"{metric.upper()} (MEAN +- STD)", "SEEDS", "VS BEST"), rows))
    if len(result["factors"]) > 1:
        top = result["factors"][0]
        print(f"\nlargest effect: {top['key']} (its values change {metric} by up to {top['range']:.4f}, "
              "the others held at the best point)")
    return 0


def _plot(sweep: dict[str, Any], args: argparse.Namespace) -> int:
    from torchrack_runs._sweep_plot import plot_sweep

    path = plot_sweep(sweep, Path(args.output))
    print(f"wrote {path}", file=sys.stderr)
    return 0
