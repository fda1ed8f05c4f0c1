"""Start-up speed of the commands a CI job and a new environment run, as whole processes.

Cases, each timed alternately with its reference in the same run (medians over ``--repeats``):

- ``validate_static``: ``torchrack validate --static examples/digits.toml`` with a warm discovery
  cache and with a cold one (a fresh cache folder each time); target <= 0.5 s;
- ``validate_full``: ``torchrack validate examples/digits.toml`` (the meta-device dry run) against
  ``python -c "import torch"``; target: full - import torch <= 0.5 s;
- ``run``: ``torchrack run examples/digits.toml`` (recorded in a fresh store) against
  ``benchmarks/_plain_digits.py``, the same training as a plain PyTorch script, at 1 and 2
  threads (``OMP_NUM_THREADS`` and the accelerator's ``threads``); target ratio <= 1.1.

``--python PATH`` runs every process with another interpreter, e.g. a large environment: with
``--make-large DIR`` a virtualenv is built there first (jupyter, jsonschema[format] and their
dependencies beside the first-party packages: 150+ unrelated distributions, rfc3987-syntax among
them) and used. Prints one JSON line per case, with the machine's load average.

    python benchmarks/startup.py [--repeats 5] [--cases validate_static,validate_full,run]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits.toml"
PLAIN = ROOT / "benchmarks" / "_plain_digits.py"
LARGE_EXTRA = ["jupyter", "jsonschema[format]", "rfc3987-syntax", "pandas", "requests", "boto3"]


def _time(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark command failed: {argv}\n{done.stdout}\n{done.stderr}")
    return took


def _env(cache: Path, threads: int | None = None) -> dict[str, str]:
    # Bytecode is written as a pip-installed environment has it (a PYTHONDONTWRITEBYTECODE
    # shell would otherwise time the compiling of every torchrack module on each start).
    env = {k: v for k, v in os.environ.items()
            if not k.startswith("TORCHRACK_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["TORCHRACK_CACHE_DIR"] = str(cache)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def _alternate(pairs: dict[str, tuple[list[str], dict[str, str] | None]], repeats: int, cwd: Path,
               fresh: dict[str, object] | None = None) -> dict[str, float]:
    """Median seconds of each command, run round-robin ``repeats`` times after one warm-up each.
    A case whose env is None gets a fresh cache folder every time (a cold start)."""
    times: dict[str, list[float]] = {k: [] for k in pairs}
    for round_ in range(repeats + 1):
        for key, (argv, env) in pairs.items():
            use = env if env is not None else _env(Path(tempfile.mkdtemp(prefix="tr-cold-")))
            took = _time(argv, use, cwd)
            if round_:
                times[key].append(took)
    return {k: round(statistics.median(v), 4) for k, v in times.items()}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _make_large(where: Path) -> Path:
    python = where / "bin" / "python"
    if python.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, "-r", str(ROOT / "requirements-dev.txt")], check=True, cwd=ROOT)
    subprocess.run([*pip, *LARGE_EXTRA], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", default="validate_static,validate_full,run")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the environment to time")
    parser.add_argument("--make-large", metavar="DIR", help="build a large environment in DIR and use it")
    args = parser.parse_args()
    python = str(_make_large(Path(args.make_large))) if args.make_large else args.python
    count = subprocess.run([python, "-c", "import importlib.metadata as m; print(len(list(m.distributions())))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    cases = args.cases.split(",")
    work = Path(tempfile.mkdtemp(prefix="tr-startup-"))
    warm = _env(work / "cache")
    torchrack = [python, "-m", "torchrack"]
    base = {"python": python, "distributions": int(count), "repeats": args.repeats}

    if "validate_static" in cases:
        med = _alternate({
            "warm": ([*torchrack, "validate", "--static", str(DIGITS)], warm),
            "cold": ([*torchrack, "validate", "--static", str(DIGITS)], None),
        }, args.repeats, work)
        print(json.dumps({"case": "validate_static", **base, "median_s": med, "target_s": 0.5,
                          "met": max(med.values()) <= 0.5, "loadavg": _load()}), flush=True)
    if "validate_full" in cases:
        med = _alternate({
            "validate": ([*torchrack, "validate", str(DIGITS)], warm),
            "import_torch": ([python, "-c", "import torch"], warm),
        }, args.repeats, work)
        extra = round(med["validate"] - med["import_torch"], 4)
        print(json.dumps({"case": "validate_full", **base, "median_s": med, "over_import_torch_s": extra,
                          "target_over_s": 0.5, "met": extra <= 0.5, "loadavg": _load()}), flush=True)
    if "run" in cases:
        for threads in (1, 2):
            store = work / f"store-{threads}"
            med = _alternate({
                "torchrack_run": ([*torchrack, "run", str(DIGITS), "--store", str(store / "runs.sqlite"),
                                   "--set", "accelerator.name=cpu", "--set", f"accelerator.params.threads={threads}"],
                                  _env(work / "cache", threads)),
                "plain": ([python, str(PLAIN), "--threads", str(threads)], _env(work / "cache", threads)),
            }, args.repeats, work)
            ratio = round(med["torchrack_run"] / med["plain"], 3)
            print(json.dumps({"case": "run", "threads": threads, **base, "median_s": med,
                              "ratio_run_plain": ratio, "target_ratio": 1.1, "met": ratio <= 1.1,
                              "loadavg": _load()}), flush=True)


if __name__ == "__main__":
    main()
