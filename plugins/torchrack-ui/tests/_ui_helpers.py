"""Helpers of the torchrack-ui tests: runs written through the real store, a plugin installed in a
folder, HTTP requests with urllib, and `torchrack ui` started in a subprocess.

Only torchrack and torchrack-runs are needed (the isolation session has nothing else).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torchrack_runs import RunStore

#: A secret in a run's config: the store keeps *** instead, and no page may ever show it.
SECRET = "hunter2-9f8e7d6c-never-shown"

#: A run name, config value and plugin summary that would run script if it were not escaped.
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'

#: The distribution of the test plugin that :func:`plugin_site` installs.
PLUGIN_DIST = "acme-losses"


def component(role: str, kind: str, name: str, dist: str, version: str = "1.0.0",
              dist_version: str = "0.1.0") -> dict[str, Any]:
    """A resolved component as the runner records it."""
    return {"role": role, "kind": kind, "name": name, "version": version, "distribution": dist,
            "distribution_version": dist_version, "entry_point": f"{dist.replace('-', '_')}.x:{name}",
            "files_sha256": hashlib.sha256(f"{dist}:{name}:{version}".encode()).hexdigest()}


def record(name: str, *, lr: float = 0.1, secret: str | None = SECRET, loss_version: str = "1.0.0",
           extra_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A run record as the runner hands it to ``RunStore.create_run``."""
    config: dict[str, Any] = {
        "schema_version": 1,
        "run": {"name": name, "seed": 0, "epochs": 3},
        "data": {"dataset": {"name": "digits"}, "batch_size": 64},
        "model": {"backbone": {"name": "small_cnn", "params": {"widths": [8, 16]}},
                  "head": {"name": "linear", "params": {"num_classes": 10}}},
        "loss": {"name": "focal", "params": {"gamma": 2.0}},
        "optimizer": {"name": "sgd", "params": {"lr": lr}},
        "trackers": [{"name": "mlflow", "params": {"api_token": secret}}] if secret else [],
        **dict(extra_config or {}),
    }
    return {
        "name": name,
        "config": config,
        "config_sha256": hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest(),
        "components": [
            component("data.dataset", "dataset", "digits", "torchrack-datasets"),
            component("model.backbone", "backbone", "small_cnn", "torchrack-backbones"),
            component("model.head", "head", "linear", "torchrack-heads"),
            component("loss", "loss", "focal", PLUGIN_DIST, loss_version, "1.2.0"),
        ],
        "environment": {"python": "3.11.7", "torch": "2.13.0+cpu", "torchrack": "0.1.0",
                        "platform": "Linux-x86_64", "cuda": None, "git_commit": None, "world_size": 1},
        "seed": 0,
        "timings": {},
        "checkpoint": None,
    }


def write_run(store: RunStore, rec: Mapping[str, Any], accuracies: Sequence[float], *,
              status: str | None = "completed", error: str | None = None, steps: int = 4,
              checkpoint_dir: Path | None = None, first: int = 1) -> str:
    """Record a run through the store's own API, as the trainer does: the run, one event and
    epoch row per epoch (with ``steps`` training steps each), and its end (``status`` None: the
    run stays running). Epochs and steps are numbered from ``first``: 1 as torchrack-runs does,
    0 as its older versions did. Returns its id."""
    rid = store.create_run(rec)
    store.log_event(rid, "run_start", data={"name": rec["name"]})
    for i, acc in enumerate(accuracies):
        epoch = first + i
        store.log_event(rid, "epoch_start", epoch=epoch)
        for step in range(first, first + steps):
            store.log_event(rid, "train_step_end", epoch=epoch, step=step,
                            metrics={"loss": 2.0 / (1 + i * steps + step)})
        metrics = {"train_loss": 1.0 / (i + 1), "eval_loss": 1.2 / (i + 1), "accuracy": acc,
                   "lr": 0.1}
        store.add_epoch(rid, epoch, metrics)
        store.log_event(rid, "epoch_end", epoch=epoch, metrics=metrics)
        if checkpoint_dir is not None:
            path = checkpoint_dir / f"run{rid}.pt"
            path.write_bytes(b"x" * 2048)
            store.set_checkpoint(rid, str(path), epoch)
            store.log_event(rid, "checkpoint_saved", epoch=epoch, data={"path": str(path)})
    if status is not None:
        final = {"accuracy": accuracies[-1], "eval_loss": 1.2 / len(accuracies)} if accuracies else {}
        store.finish_run(rid, status, final, error, {"train_seconds": 1.5})
        store.log_event(rid, "run_end", metrics=final, data={"status": status})
    return rid


def damage(path: Path, run_id: str, column: str, text: str) -> None:
    """Overwrite one column of one run with ``text`` (a damaged record), bypassing the store."""
    assert re.fullmatch(r"[a-z_]+", column)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"UPDATE runs SET {column} = ? WHERE id = ?", (text, int(run_id)))
    conn.close()


def fetch(url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None,
          timeout: float = 30) -> tuple[int, Mapping[str, str], bytes]:
    """Status, headers and body of a request (error statuses are answers too, not exceptions)."""
    req = urllib.request.Request(url, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def fetch_json(url: str, **kwargs: Any) -> tuple[int, Any]:
    """Status and parsed JSON body; fails when the answer is not JSON."""
    status, headers, body = fetch(url, **kwargs)
    assert headers.get("Content-Type", "").startswith("application/json"), (url, headers, body[:300])
    return status, json.loads(body)


def plugin_site(folder: Path, summary: str = HOSTILE) -> Path:
    """Install, in ``folder`` (put it on sys.path or PYTHONPATH), a plugin distribution
    ``acme-losses`` 1.2.0 with one loss, ``focal`` 1.0.0, whose summary and parameter
    description are ``summary``. Its metadata and manifest are real; its code is never run."""
    pkg = folder / "acme_losses"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "focal.py").write_text("class Focal:\n    def __init__(self, gamma=2.0):\n        self.gamma = gamma\n")
    manifest = {
        "manifest_version": 1, "api": ">=1,<2",
        "components": {"focal": {
            "kind": "loss", "version": "1.0.0", "summary": summary,
            "params": {"type": "object", "additionalProperties": False, "properties": {
                "gamma": {"type": "number", "minimum": 0, "default": 2.0, "description": summary},
                "api_key": {"type": ["string", "null"], "default": None, "x-sensitive": True},
            }},
            "inputs": {"logits": {"shape": ["N", "K"], "dtype": "floating"},
                       "targets": {"shape": ["N"], "dtype": "int64"}},
            "outputs": {"loss": {"shape": [], "dtype": "floating"}},
            "devices": ["cpu", "meta"],
            "deprecated": {"since": "1.0", "replaced_by": "focal_v2"},
        }},
    }
    (pkg / "torchrack-manifest.json").write_text(json.dumps(manifest))
    info = folder / "acme_losses-1.2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-losses\nVersion: 1.2.0\n"
                                   "Requires-Dist: torchrack>=0.1,<1\n")
    (info / "entry_points.txt").write_text("[torchrack.losses]\nfocal = acme_losses.focal:Focal\n")
    (info / "top_level.txt").write_text("acme_losses\n")
    return folder


def ui_env(tmp: Path, *, pythonpath: Sequence[Path] = ()) -> dict[str, str]:
    """The environment of a `torchrack ui` subprocess: its own discovery cache, no store variable."""
    env = {k: v for k, v in os.environ.items() if k not in ("TORCHRACK_STORE", "PYTHONPATH")}
    env["TORCHRACK_CACHE_DIR"] = str(tmp / ".cache")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    return env


def _sigint_as_in_a_terminal() -> None:
    """In the child before it runs: SIGINT back to its default action, as a command typed in a
    terminal has it. A harness that starts pytest in the background (``cmd &`` in a script, some CI
    runners) leaves SIGINT ignored, children inherit that, and Python then never raises
    KeyboardInterrupt: Ctrl-C would do nothing and every stop would wait for its timeout."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


class UIProcess:
    """`python -m torchrack ui ...` in a subprocess; :meth:`start` waits for its address."""

    def __init__(self, args: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "torchrack", "ui", *args], cwd=cwd,
                                     env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, preexec_fn=_sigint_as_in_a_terminal)
        self.url = ""
        self.first_lines: list[str] = []

    def start(self, timeout: float = 60) -> str:
        """The URL it serves at, once it says so; fails with its output if it exits first."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.first_lines.append(line)
            found = re.search(r"at (http://\S+/)", line)
            if found:
                self.url = found.group(1)
                return self.url
        out, err = self.stop()
        raise AssertionError(f"torchrack ui did not start: {''.join(self.first_lines)}{out}\n{err}")

    def stop(self, sig: int | None = None, timeout: float = 30) -> tuple[str, str]:
        """Send ``sig`` (default SIGINT, as Ctrl-C does) and return the rest of its output."""
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT if sig is None else sig)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return "".join(self.first_lines) + out, err


def write_sweep(store: RunStore, name: str, trials: Sequence[tuple[float, str | None, str]],
                best_run: str | None) -> str | None:
    """Record a finished grid sweep over ``optimizer.params.lr`` through the store's sweep API:
    one trial per ``(lr, run_id, status)``. Returns its id, or None when this torchrack-runs
    records no sweeps."""
    sweeps = getattr(store, "sweeps", None)
    if sweeps is None:
        return None
    config = {"sweep": {"space": {"optimizer.params.lr": [lr for lr, _, _ in trials]}}}
    sid: str = sweeps.create(
        {"name": name, "method": "grid", "objective": "accuracy", "direction": "maximize",
         "source": "test", "config": config,
         "config_sha256": hashlib.sha256(json.dumps(config).encode()).hexdigest(), "settings": {}},
        [{"trial": i + 1, "point_index": i, "point": {"optimizer.params.lr": lr}, "seed": 0}
         for i, (lr, _, _) in enumerate(trials)])
    for i, (_, run_id, status) in enumerate(trials):
        fields: dict[str, Any] = {"status": status}
        if run_id is not None:
            fields["run_id"] = run_id
        if status == "failed":
            fields["error"] = f"trial failed: {HOSTILE}"
        sweeps.update_trial(sid, i + 1, **fields)
    sweeps.finish(sid, "completed", best={"run_id": best_run} if best_run else None, error=None)
    return sid
