"""Discovery speed: ``torchrack list --json`` against a plain entry-points scan and pluggy.

Builds N synthetic plugin distributions (dist-info with METADATA, entry_points.txt and RECORD, plus
a package holding ``torchrack-manifest.json`` and a module) in a temporary directory put on
``PYTHONPATH``, then times whole processes, interleaved round by round after one warm-up each:

- ``A``:  ``python -m torchrack list --json`` with every cache warm: nothing changed since the
  last listing, which the listing cache prints again;
- ``A1``: the same as the first listing after a change that another command already scanned: the
  discovery cache is warm (facts reused), the listing cache is not (vetted and rendered again);
- ``A2``: the same with ``TORCHRACK_NO_CACHE=1`` (full scan, manifests validated);
- ``A4``: no discovery or listing cache, but the user's shared manifest verdicts
  (``<cache>/manifests/``, by content) kept: a new virtualenv, or a CI job that restores
  ``~/.cache/torchrack``, listing the same plugins (every file read, no manifest re-validated);
- ``A5``: with an empty cache folder: a fresh CI job or machine, the first command after
  ``pip install``: everything read and validated, and every cache written (the discovery cache
  and the shared verdicts; what A2 leaves out);
- ``A3``: the same right after one more plugin was installed (the cache is stale: the unchanged
  distributions' facts are reused from it, only the new one is read and validated);
- ``B``:  a plain script that calls ``importlib.metadata.entry_points`` for the eight groups;
- ``B1``: a stricter baseline: one ``entry_points()`` call (one scan), then ``select`` per group;
- ``C``:  pluggy's ``PluginManager.load_setuptools_entrypoints`` for each group (imports every
  plugin module, including any other plugins installed in the environment, and through them
  torch: that is what import-based discovery costs there).

A, B, B1 and C all see the same ``sys.path`` (the synthetic folder plus the environment).

Prints one JSON line per N with the medians (seconds) and the ratios A/B, A2/B, A3/B, C/B, A/B1,
A1/B1, A2/B1, A4/B1 and A5/B1 (the cold listings against one plain scan). Targets: cold A2/B1 <= 1.5 at every size
(N = 0 is the first-party set alone), warm A/B1 <= 1.0, and no ratio growing with N.

``--python PATH`` times another environment (e.g. one with 150+ unrelated distributions:
``--make-large DIR`` builds it, see benchmarks/startup.py).

    python benchmarks/discovery.py [--sizes 0,10,100,1000,5000] [--repeats 7] [--python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GROUPS = [
    "torchrack.datasets",
    "torchrack.augmentations",
    "torchrack.backbones",
    "torchrack.heads",
    "torchrack.losses",
    "torchrack.metrics",
    "torchrack.accelerators",
    "torchrack.hooks",
    "torchrack.commands",
]

PLAIN = (
    "from importlib.metadata import entry_points\n"
    f"for group in {GROUPS!r}:\n"
    "    eps = entry_points(group=group)\n"
    "    [(ep.name, ep.value) for ep in eps]\n"
)

PLAIN_ONCE = (
    "from importlib.metadata import entry_points\n"
    "eps = entry_points()\n"
    f"for group in {GROUPS!r}:\n"
    "    [(ep.name, ep.value) for ep in eps.select(group=group)]\n"
)

PLUGGY = (
    "import pluggy\n"
    "pm = pluggy.PluginManager('torchrack')\n"
    f"for group in {GROUPS!r}:\n"
    "    pm.load_setuptools_entrypoints(group)\n"
)


def _manifest(i: int) -> dict[str, object]:
    return {
        "manifest_version": 1,
        "api": ">=1,<2",
        "components": {
            f"loss_{i}": {
                "kind": "loss",
                "version": "1.0.0",
                "summary": f"Synthetic loss number {i}.",
                "params": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"scale": {"type": "number", "minimum": 0, "default": 1.0}},
                },
                "inputs": {
                    "logits": {"shape": ["N", "K"], "dtype": "floating"},
                    "targets": {"shape": ["N"], "dtype": "int64"},
                },
                "outputs": {"loss": {"shape": [], "dtype": "floating"}},
                "devices": ["cpu", "meta"],
            },
            f"metric_{i}": {
                "kind": "metric",
                "version": "1.0.0",
                "summary": f"Synthetic metric number {i}.",
                "params": {"type": "object", "additionalProperties": False, "properties": {}},
                "inputs": {
                    "logits": {"shape": ["N", "K"], "dtype": "floating"},
                    "targets": {"shape": ["N"], "dtype": "int64"},
                },
            },
        },
    }


def build(root: Path, n: int, start: int = 0) -> None:
    """Write ``n`` plugin distributions under ``root`` (numbered from ``start``); backdate every
    mtime so they are cacheable."""
    written: list[Path] = []
    for i in range(start, start + n):
        dist, pkg = f"synth-plugin-{i}", f"synth_plugin_{i}"
        info = root / f"synth_plugin_{i}-1.0.{i}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\n"
            f"Name: {dist}\nVersion: 1.0.{i}\nSummary: synthetic plugin {i}\n"
            "Requires-Dist: torchrack>=0.1,<1\nRequires-Dist: torch>=2.4\n"
            "Requires-Dist: numpy>=1.24; extra == 'extra'\n\n"
            "A long description that the reader must not parse.\n"
        )
        (info / "entry_points.txt").write_text(
            f"[torchrack.losses]\nloss_{i} = {pkg}.components:Loss\n\n"
            f"[torchrack.metrics]\nmetric_{i} = {pkg}.components:Metric\n"
        )
        pdir = root / pkg
        pdir.mkdir()
        (pdir / "__init__.py").write_text("")
        (pdir / "components.py").write_text(
            "class Loss:\n    def __init__(self, scale=1.0):\n        self.scale = scale\n\n"
            "class Metric:\n    pass\n"
        )
        (pdir / "torchrack-manifest.json").write_text(json.dumps(_manifest(i)))
        (info / "RECORD").write_text(
            f"{pkg}/__init__.py,,\n{pkg}/components.py,,\n{pkg}/torchrack-manifest.json,,\n"
            f"{info.name}/METADATA,,\n{info.name}/entry_points.txt,,\n{info.name}/RECORD,,\n"
        )
        written += [info, pdir]
    past = time.time() - 60
    for folder in written:  # only what this call wrote: older stamps stay as they are
        for f in folder.iterdir():
            os.utime(f, (past, past))
        os.utime(folder, (past, past))
    os.utime(root, (past, past))


def _time(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed ({proc.returncode}):\n{proc.stderr.decode()[-2000:]}")
    return elapsed


def measure(n: int, repeats: int, py: str = sys.executable) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"torchrack-bench-{n}-") as tmp:
        root, cwd = Path(tmp) / "site", Path(tmp) / "cwd"
        root.mkdir()
        cwd.mkdir()  # `python -m` puts the working directory on sys.path: keep it unchanging
        build(root, n)
        past = time.time() - 60
        os.utime(cwd, (past, past))
        cache = Path(tmp) / "cache"
        # Bytecode is written as a pip-installed environment has it (a PYTHONDONTWRITEBYTECODE
        # shell would otherwise time the compiling of every torchrack module on each start).
        base = {k: v for k, v in os.environ.items()
            if not k.startswith("TORCHRACK_") and k != "PYTHONDONTWRITEBYTECODE"}
        base["PYTHONPATH"] = str(root) + os.pathsep + base.get("PYTHONPATH", "")
        base["TORCHRACK_CACHE_DIR"] = str(cache)
        no_cache = dict(base, TORCHRACK_NO_CACHE="1")
        cases = {
            "A": ([py, "-m", "torchrack", "list", "--json"], base),
            "A2": ([py, "-m", "torchrack", "list", "--json"], no_cache),
            "B": ([py, "-c", PLAIN], base),
            "B1": ([py, "-c", PLAIN_ONCE], base),
            "C": ([py, "-c", PLUGGY], base),
        }
        # Sanity: every synthetic plugin is listed as usable, and the warm-up fills the cache.
        out = subprocess.run(cases["A"][0], env=base, cwd=cwd, capture_output=True, text=True)
        listed = json.loads(out.stdout)
        mine = [p for p in listed["plugins"] if p["name"].startswith("synth-plugin-")]
        bad = [p for p in mine if p["verdict"] != "ok"]
        if len(mine) != n or bad:
            raise SystemExit(f"expected {n} usable synthetic plugins, found {len(mine)}; {bad[:1]}")
        if not any(cache.glob("discovery-*.json")):
            raise SystemExit("the warm-up did not write the discovery cache")
        for cmd, env in cases.values():  # one warm-up each (OS file cache, .pyc files)
            _time(cmd, env, str(cwd))
        # A4's cache folder: only the shared verdicts survive from one listing to the next.
        shared = dict(base, TORCHRACK_CACHE_DIR=str(Path(tmp) / "cache4"))
        _time(cases["A"][0], shared, str(cwd))
        times: dict[str, list[float]] = {k: [] for k in [*cases, "A3", "A1", "A4", "A5"]}
        fresh = Path(tmp) / "cache5"
        for r in range(repeats):  # interleaved rounds: A3, A1, A4, A, A2, B, B1, C, A3, ...
            build(root, 1, start=n + r)  # "install" one more plugin, then list
            times["A3"].append(_time(cases["A"][0], base, str(cwd)))
            times["A1"].append(_time(cases["A"][0], base, str(cwd)))  # facts cached, listing not
            for f in Path(shared["TORCHRACK_CACHE_DIR"]).glob("*-*.*"):  # discovery-, listing-
                f.unlink()
            times["A4"].append(_time(cases["A"][0], shared, str(cwd)))
            if fresh.exists():
                shutil.rmtree(fresh)
            times["A5"].append(_time(cases["A"][0], dict(base, TORCHRACK_CACHE_DIR=str(fresh)), str(cwd)))
            for key, (cmd, env) in cases.items():
                times[key].append(_time(cmd, env, str(cwd)))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "benchmark": "discovery",
        "n": n,
        "repeats": repeats,
        "median_s": {k: round(v, 4) for k, v in med.items()},
        "ratio_A_B": round(med["A"] / med["B"], 3),
        "ratio_A2_B": round(med["A2"] / med["B"], 3),
        "ratio_A3_B": round(med["A3"] / med["B"], 3),
        "ratio_C_B": round(med["C"] / med["B"], 3),
        "ratio_A_B1": round(med["A"] / med["B1"], 3),
        "ratio_A1_B1": round(med["A1"] / med["B1"], 3),
        "ratio_A2_B1": round(med["A2"] / med["B1"], 3),
        "ratio_A4_B1": round(med["A4"] / med["B1"], 3),
        "ratio_A5_B1": round(med["A5"] / med["B1"], 3),
        "distributions": _count(py),
        "python": platform.python_version(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def _count(py: str) -> int:
    out = subprocess.run([py, "-c", "import importlib.metadata as m; print(len(list(m.distributions())))"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated N values")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per N")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the environment to time")
    parser.add_argument("--make-large", metavar="DIR", help="build a large environment in DIR and use it")
    args = parser.parse_args()
    py = args.python
    if args.make_large:
        sys.path.insert(0, str(Path(__file__).parent))
        from startup import _make_large

        py = str(_make_large(Path(args.make_large)))
    for n in (int(s) for s in args.sizes.split(",") if s.strip()):
        print(json.dumps(measure(n, args.repeats, py)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
