"""The local executor's worker process: ``python -m torchrack_runs._sweep_worker SPEC_JSON``.

It trains one trial (:func:`torchrack_runs._sweep_trial.run_trial`) and talks to the sweep
process over its standard streams, one JSON object per line:

- on stdout, what happens: ``{"event": "started", "run_id"}``, ``{"event": "epoch", "epoch",
  "value"}`` and finally ``{"event": "done", ...outcome}``;
- on stdin, for optuna only, the answer to each epoch but the last: ``{"prune": bool, "reason"}``.

Everything else the run prints (the trainer's epoch lines, warnings) goes to stderr, which the
sweep sends to the trial's log file. The worker ends when the sweep process does (Linux:
``PR_SET_PDEATHSIG``; elsewhere a watchdog thread): a sweep killed mid-way leaves no trial
running on, and its interrupted runs are continued by ``torchrack sweep --resume``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import IO, Any

__all__ = ["main"]


def _die_with(parent: int) -> None:
    """End this process when ``parent`` ends."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent was gone before the line above
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="torchrack-sweep-watchdog", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """Run the trial of the JSON spec given as the one argument; see the module docstring."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m torchrack_runs._sweep_worker SPEC_JSON (started by torchrack sweep)",
              file=sys.stderr)
        return 2
    spec: dict[str, Any] = json.loads(args[0])
    if spec.get("parent"):
        _die_with(int(spec["parent"]))
    # The protocol keeps the real stdout; whatever else writes to stdout goes to the log.
    proto: IO[str] = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    lock = threading.Lock()

    def report(event: dict[str, Any]) -> None:
        with lock:
            proto.write(json.dumps({**event, "trial": spec["trial"]}) + "\n")
            proto.flush()

    decide = None
    if spec.get("ask"):
        def decide(step: int, value: float) -> tuple[bool, str]:
            line = sys.stdin.readline()
            if not line:  # the sweep went away: go on (the watchdog ends this process)
                return False, ""
            answer = json.loads(line)
            return bool(answer.get("prune")), str(answer.get("reason") or "pruned")

    from torchrack import TorchrackError

    from torchrack_runs._sweep_trial import run_trial

    try:
        outcome = run_trial(spec, report=report, decide=decide)
    except TorchrackError as exc:  # the store itself failed: the sweep records the trial
        outcome = {"status": "failed", "run_id": None, "objective": None, "error": str(exc)}
    report({"event": "done", **outcome})
    return 0


if __name__ == "__main__":
    sys.exit(main())
