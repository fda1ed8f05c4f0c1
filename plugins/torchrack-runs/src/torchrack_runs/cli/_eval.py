"""``torchrack eval RUN [RUN ...] [--metrics NAME ...] [--split SPLIT] [--checkpoint WHICH]
[--measure latency,memory,flops,energy] [--batch-sizes 1,32,256] [--calibrate temperature] ...``.

Rebuilds a recorded run's components from its config, loads its checkpoint (weights only) and
evaluates it separately from training; the result is added to the same run's record. With
``--measure`` it also measures what the model's forward pass costs (the record's
``measurements``); with ``--calibrate`` it fits calibrators on held-out logits and records ECE
and NLL before and after (``calibration``): docs/evaluation.md.

Several runs are evaluated one after another in this process, on their configs' devices, with
the same measurement settings (the command line's, else the first run's ``[evaluate]`` table),
and shown side by side: a like-for-like table, which says so when devices, torch or threads
differ. The ``*_facts`` and ``*_lines`` functions here are also what ``runs show`` and
``runs compare`` print.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from torchrack.cli.output import print_json, table

from torchrack_runs.cli._common import add_store_argument

#: The context figures are measured in: they must agree for a like-for-like comparison.
CONTEXT = ("device", "device_name", "torch", "threads", "batch_sizes", "timed_batches")


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` from a parser raising ``ValueError`` (usage error, exit 2)."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = parse.__name__
    return convert


def _measures(text: str) -> tuple[str, ...]:
    """``latency,memory`` or ``all``: the figures to measure, checked (did you mean)."""
    import difflib

    from torchrack_runs._measure import MEASURES, MeasureError

    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return MEASURES
    if not names:
        raise MeasureError(f"nothing to measure in {text!r}; choose from {', '.join(MEASURES)} or all")
    for name in names:
        if name not in MEASURES:
            close = difflib.get_close_matches(name, MEASURES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise MeasureError(f"cannot measure {name!r}{hint}; choose from {', '.join(MEASURES)}, "
                               "comma-separated, or all")
    return tuple(m for m in MEASURES if m in names)


def _batch_sizes(text: str) -> tuple[int, ...]:
    """``1,32,256``: whole numbers of 1 or more, in the order given, without repeats."""
    sizes: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part.isascii() or not part.isdigit() or int(part) < 1:
            raise ValueError(f"batch sizes are whole numbers of 1 or more, comma-separated (e.g. "
                             f"1,32,256); found {part!r} in {text!r}")
        if int(part) not in sizes:
            sizes.append(int(part))
    return tuple(sizes)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    if not names:
        raise ValueError("expected calibrator names, comma-separated (e.g. temperature,vector)")
    return names


def _count(minimum: int) -> Callable[[str], int]:
    def count(text: str) -> int:
        if not text.strip().isascii() or not text.strip().isdigit() or int(text) < minimum:
            raise ValueError(f"expected a whole number of {minimum} or more, found {text!r}")
        return int(text)
    return count


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number between 0 and 1, found {text!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"expected a number strictly between 0 and 1, found {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run id or 'latest' (several: a like-for-like table)")
    parser.add_argument("--metrics", nargs="+", metavar="NAME",
                        help="metric components to use instead of the config's")
    parser.add_argument("--split", help="dataset split (default: the config's eval split)")
    parser.add_argument("--checkpoint", default="last", metavar="WHICH",
                        help="best, last (default) or an epoch number of a kept checkpoint")
    m = parser.add_argument_group("measurements (docs/evaluation.md)")
    m.add_argument("--measure", type=_argument(_measures), metavar="LIST",
                   help="what to measure: latency,memory,flops,energy or all")
    m.add_argument("--batch-sizes", type=_argument(_batch_sizes), metavar="LIST",
                   help="batch sizes measured (default: [evaluate] batch_sizes, else 1,32,256)")
    m.add_argument("--warmup-batches", type=_argument(_count(0)), metavar="N",
                   help="untimed batches first, per batch size (default 5)")
    m.add_argument("--timed-batches", type=_argument(_count(50)), metavar="N",
                   help="timed batches per batch size, at least 50 (default 50)")
    c = parser.add_argument_group("calibration (docs/evaluation.md)")
    c.add_argument("--calibrate", type=_argument(_names), metavar="NAMES",
                   help="calibrators to fit on held-out logits, e.g. temperature or temperature,vector")
    c.add_argument("--calibration-split", metavar="SPLIT",
                   help="fit on this whole split (default: a seeded fraction of the evaluated split)")
    c.add_argument("--calibration-fraction", type=_argument(_fraction), metavar="F",
                   help="share of the evaluated split held out to fit on (default 0.5)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_store_argument(parser)


def run(args: argparse.Namespace) -> int:
    from torchrack.plugins import Registry

    from torchrack_runs._runner import evaluate_recorded
    from torchrack_runs._store import RunStore

    results = []
    with RunStore(args.store or RunStore.default_path(), create=False) as store:
        records = [store.get(ref) for ref in args.runs]
        measure, calibrate = _settings(args, records[0]["config"])
        registry = Registry.discover()
        for ref in args.runs:
            record, metrics, split, epoch = evaluate_recorded(
                store, ref, metrics=args.metrics, split=args.split, registry=registry,
                checkpoint=args.checkpoint, measure=measure, calibrate=calibrate)
            after = store.get(record["run_id"])
            results.append({"run_id": record["run_id"], "split": split, "checkpoint_epoch": epoch,
                            "metrics": metrics,
                            **({"measurements": after["measurements"]} if measure else {}),
                            **({"calibration": after["calibration"]} if calibrate else {})})
    differ = context_differences([r.get("measurements") for r in results]) if measure else []
    if args.json:
        print_json({"runs": results, "like_for_like": not differ, "context_differences": differ})
        return 0
    for r in results:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in r["metrics"].items() if isinstance(v, float))
        print(f"run {r['run_id']} evaluated on {r['split']!r} (checkpoint epoch {r['checkpoint_epoch'] + 1}): {shown}")
        if len(results) == 1:
            for line in [*measurement_lines(r.get("measurements")), *calibration_lines(r.get("calibration"))]:
                print(line)
    if len(results) > 1 and (measure or calibrate):
        print(f"\nside by side ({'like for like' if not differ else 'NOT like for like: ' + '; '.join(differ)}):")
        facts = [{**measurement_facts(r.get("measurements")), **calibration_facts(r.get("calibration"))}
                 for r in results]
        keys = [k for f in facts for k in f]
        keys = list(dict.fromkeys(keys))
        print(_indent(table(("", *(f"run {r['run_id']}" for r in results)),
                            [(k, *(_cell(f.get(k)) for f in facts)) for k in keys])))
    return 0


def _settings(args: argparse.Namespace, config: dict[str, Any]) -> tuple[Any, Any]:
    """The measurement and calibration settings (None: not asked), the command line's over the
    ``[evaluate]`` table of ``config`` (the first run's)."""
    measure = calibrate = None
    if args.measure:
        from torchrack_runs._measure import settings_from_config

        measure = settings_from_config(config, measures=args.measure, batch_sizes=args.batch_sizes,
                                       warmup_batches=args.warmup_batches,
                                       timed_batches=args.timed_batches)
    if args.calibrate:
        from torchrack_runs._calibrate import settings_from_config as calibration_settings

        calibrate = calibration_settings(config, args.calibrate, split=args.calibration_split,
                                         fraction=args.calibration_fraction)
    return measure, calibrate


# -- showing measurements and calibration (also `runs show` and `runs compare`) -------------------


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict) and "unavailable" in value:
        return f"unavailable ({value['unavailable']})"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("\n", "\\n")


def _bytes(value: Any) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        return _cell(value)
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value} B"


def _rate(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, float) and value >= 100 else _cell(value)


def measurement_facts(m: dict[str, Any] | None) -> dict[str, Any]:
    """The figures of a record's ``measurements`` by label, with their context (for ``runs
    compare`` and the side-by-side table of several runs)."""
    if not m:
        return {}
    b = m.get("batch_size")
    facts: dict[str, Any] = {k: m.get(k) for k in ("device", "device_name", "torch", "threads")}
    facts["batch_sizes"] = ",".join(map(str, m.get("batch_sizes", [])))
    lat = m.get("latency_ms")
    if lat:
        for q in ("p50", "p95", "p99"):
            facts[f"latency_ms.{q} (batch {b})"] = lat[q]
    if "throughput_per_s" in m:
        facts[f"throughput_per_s (batch {b})"] = m["throughput_per_s"]
    for row in m.get("by_batch_size", [])[1:]:
        if "throughput_per_s" in row:
            facts[f"throughput_per_s (batch {row['batch_size']})"] = row["throughput_per_s"]
    if "peak_memory_bytes" in m:
        facts[f"peak_memory_bytes (batch {b})"] = m["peak_memory_bytes"]
    params = m.get("parameters") or {}
    facts["parameters"] = params.get("count")
    facts["parameter_bytes"] = params.get("bytes")
    for key in ("flops_per_sample", "energy_j_per_1000"):
        if key in m:
            facts[key if key == "flops_per_sample" else f"{key} (batch {b})"] = m[key]
    return facts


def calibration_facts(c: dict[str, Any] | None) -> dict[str, Any]:
    """ECE and NLL before and after each calibrator of a record's ``calibration``, by label."""
    if not c:
        return {}
    facts: dict[str, Any] = {"calibration.ece before": c["before"]["ece"], "calibration.nll before": c["before"]["nll"]}
    for cal in c.get("calibrators", []):
        facts[f"calibration.ece after {cal['name']}"] = cal["after"]["ece"]
        facts[f"calibration.nll after {cal['name']}"] = cal["after"]["nll"]
    return facts


def context_differences(measurements: Sequence[dict[str, Any] | None]) -> list[str]:
    """What keeps measurements from being like for like: a context that differs, or none."""
    present = [m for m in measurements if m]
    if len(present) < len(measurements):
        return ["a run has no measurements"]
    out = []
    for key in CONTEXT:
        values = [m.get(key) for m in present]
        if any(v != values[0] for v in values[1:]):
            out.append(f"{key} differ ({', '.join(_cell(v) for v in values)})")
    return out


def measurement_lines(m: dict[str, Any] | None) -> list[str]:
    """A record's ``measurements`` for people: the context, a table per batch size, the rest."""
    if not m:
        return []
    threads = (f", {m['threads']} thread{'' if m['threads'] == 1 else 's'}" if m.get("threads") else "")
    lines = [f"\nmeasurements ({m.get('source', '?')}, {m.get('split', '?')!r} samples) on {m['device']}"
             f"{' (' + m['device_name'] + ')' if m.get('device_name') else ''}, torch {m['torch']}{threads}; "
             f"{m.get('warmup_batches', 0)} warm-up + {m.get('timed_batches', 0)} timed batches per size:"]
    lat = {r["batch_size"]: r for r in (m.get("latency_ms") or {}).get("by_batch_size", [])}
    other = {r["batch_size"]: r for r in m.get("by_batch_size", [])}
    rows: list[Any] = []
    why: dict[str, str] = {}

    def short(value: Any, show: Callable[[Any], str] = _cell) -> str:
        if isinstance(value, dict) and "unavailable" in value:
            why.setdefault(value["unavailable"], f"({len(why) + 1})")
            return f"unavailable {why[value['unavailable']]}"
        return show(value)

    for b in m.get("batch_sizes", []):
        la, ot = lat.get(b, {}), other.get(b, {})
        rows.append((b, _cell(la.get("p50")), _cell(la.get("p95")), _cell(la.get("p99")),
                     _rate(ot.get("throughput_per_s")), short(ot.get("peak_memory_bytes"), _bytes),
                     short(ot.get("energy_j_per_1000"))))
    if lat or other:
        lines.append(_indent(table(("BATCH", "P50 MS", "P95 MS", "P99 MS", "SAMPLES/S", "PEAK MEMORY",
                                    "ENERGY J/1000"), rows)))
    params = m.get("parameters") or {}
    lines.append(f"  parameters {_cell(params.get('count'))} ({_bytes(params.get('bytes'))})"
                 + (f"; FLOPs per sample {short(m['flops_per_sample'])}" if "flops_per_sample" in m else ""))
    lines += [f"  {mark} {reason}" for reason, mark in why.items()]
    lines += [f"  {name}: {how}" for name, how in (m.get("methods") or {}).items() if how not in why]
    return lines


def calibration_lines(c: dict[str, Any] | None) -> list[str]:
    """A record's ``calibration`` for people: where it was fitted, scores before and after."""
    if not c:
        return []
    fit, scored = c["fit"], c["evaluated"]
    where = (f"{fit['samples']} held-out samples of {fit['split']!r} (seed {fit.get('seed')}), scored on "
             f"the other {scored['samples']}" if fit.get("part") == "held-out" else
             f"all {fit['samples']} samples of {fit['split']!r}, scored on {scored['samples']} of "
             f"{scored['split']!r}")
    before = c["before"]
    rows = [("(none)", _cell(before["ece"]), _cell(before["nll"]), _cell(before.get("accuracy")), "-")]
    for cal in c.get("calibrators", []):
        fitted = ", ".join(f"{k}={_cell(v) if not isinstance(v, list) else '[' + str(len(v)) + ' numbers]'}"
                           for k, v in cal.get("fitted", {}).items())
        rows.append((cal["name"], _cell(cal["after"]["ece"]), _cell(cal["after"]["nll"]),
                     _cell(cal["after"].get("accuracy")), fitted or "-"))
    return [f"\ncalibration: fitted on {where}; ECE over {c['n_bins']} bins:",
            _indent(table(("CALIBRATOR", "ECE", "NLL", "ACCURACY", "FITTED"), rows))]
