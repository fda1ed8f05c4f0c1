"""``torchrack run CONFIG --nproc N``: N worker processes through ``torch.distributed.run``.

The launcher checks the config once (schema, components, tensor contracts, lock, resume), then
runs torchrun's elastic agent in this process, exactly as ``python -m torch.distributed.run
--nproc-per-node N [torchrun options] -m torchrack run CONFIG ...`` would, each worker being an
ordinary ``torchrack run`` (without ``--nproc``) that reads RANK, WORLD_SIZE, LOCAL_RANK and
MASTER_ADDR from torchrun's environment. torchrun's multi-node options pass through.

When a worker dies or fails, torchrun stops the others and reports the failed rank; the launcher
turns that report into one error naming the rank, its pid and its exit code or signal, marks the
run that rank 0 created as failed (rank 0 tells the launcher the run id through the file named by
``TORCHRACK_LAUNCH_FILE``), and exits 1. ``--timeout S`` bounds the whole launch: past it, the
workers are stopped the way torchrun stops them on SIGTERM, and the run is failed likewise.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchrack import TorchrackError
from torchrack.hookspecs import Run, hookimpl

if TYPE_CHECKING:
    from torchrack_runs._runner import Runner

#: Environment variable naming the file where rank 0 writes ``{"run_id", "store"}`` at run start.
LAUNCH_FILE_ENV = "TORCHRACK_LAUNCH_FILE"

#: ``torchrack run`` option (argparse dest) -> torchrun option, passed through when given.
TORCHRUN_OPTIONS: tuple[tuple[str, str], ...] = (
    ("nnodes", "--nnodes"),
    ("node_rank", "--node-rank"),
    ("rdzv_backend", "--rdzv-backend"),
    ("rdzv_endpoint", "--rdzv-endpoint"),
    ("rdzv_id", "--rdzv-id"),
    ("master_addr", "--master-addr"),
    ("master_port", "--master-port"),
)


@dataclass
class LaunchOptions:
    """What ``torchrack run --nproc N`` was asked: the worker's own options and torchrun's."""

    config: str
    nproc: str
    overrides: list[str] = field(default_factory=list)
    store: str | None = None
    resume: str | None = None
    locked: str | None = None
    progress: bool | None = None
    timeout: float | None = None
    standalone: bool = False
    nnodes: str | None = None
    node_rank: str | None = None
    rdzv_backend: str | None = None
    rdzv_endpoint: str | None = None
    rdzv_id: str | None = None
    master_addr: str | None = None
    master_port: str | None = None

    @classmethod
    def from_args(cls, args: Any) -> LaunchOptions:
        """From the parsed arguments of ``torchrack run`` (any object with those attributes)."""
        names = [f for f in cls.__dataclass_fields__]
        values = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
        values["config"], values["nproc"] = str(args.config), str(args.nproc)
        values["overrides"] = list(getattr(args, "overrides", None) or [])
        return cls(**values)


class WorkerFailedError(TorchrackError):
    """A worker process of a launched run failed; ``rank`` is torchrun's first failed rank."""

    def __init__(self, message: str, rank: int | None, run_id: str | None) -> None:
        super().__init__(message)
        self.rank = rank
        self.run_id = run_id


def add_launch_arguments(parser: argparse.ArgumentParser) -> None:
    """``--nproc`` and the torchrun options it passes through, as one argument group."""
    group = parser.add_argument_group(
        "distributed (torchrun)",
        "run N worker processes through torch.distributed.run; the config's accelerator must be "
        "a distributed one (ddp). Multi-node: start the same command on every node with the "
        "same --nnodes, --rdzv-backend c10d, --rdzv-endpoint HOST:PORT and --rdzv-id",
    )
    group.add_argument("--nproc", "--nproc-per-node", dest="nproc", metavar="N",
                       help="worker processes on this node (an integer, or gpu, cpu, auto); "
                            "torchrun's --nproc-per-node")
    group.add_argument("--standalone", action="store_true", default=None,
                       help="torchrun --standalone (a local rendezvous on a free port)")
    group.add_argument("--max-restarts", metavar="N", type=_no_restarts,
                       help="not supported: torchrack runs with torchrun --max-restarts 0, since a "
                            "restart would start another run; resume a failed run with --resume RUN")
    group.add_argument("--nnodes", metavar="N|MIN:MAX", help="torchrun --nnodes (default 1)")
    group.add_argument("--node-rank", metavar="R", help="torchrun --node-rank (static rendezvous)")
    group.add_argument("--rdzv-backend", metavar="NAME", help="torchrun --rdzv-backend (c10d, static)")
    group.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="torchrun --rdzv-endpoint")
    group.add_argument("--rdzv-id", metavar="ID", help="torchrun --rdzv-id (the same on every node)")
    group.add_argument("--master-addr", metavar="HOST", help="torchrun --master-addr (static rendezvous)")
    group.add_argument("--master-port", metavar="PORT", help="torchrun --master-port (static rendezvous)")
    group.add_argument("--timeout", type=float, metavar="SECONDS",
                       help="stop every worker and fail the run when the launch takes longer")


def _no_restarts(text: str) -> str:
    if text.strip() == "0":
        return "0"
    raise argparse.ArgumentTypeError(
        f"{text!r}: restarts are not supported (a restarted worker group would start another run); "
        "keep the default 0 and resume a failed run with --resume RUN --nproc N"
    )


def _check_nproc(text: str) -> str:
    if text in ("gpu", "cpu", "auto"):
        return text
    if text.isdigit() and int(text) >= 1:
        return text
    raise TorchrackError(f"--nproc must be a positive integer, gpu, cpu or auto; found {text!r}")


def torchrun_argv(args: LaunchOptions, worker: list[str]) -> list[str]:
    """The argument list of ``python -m torch.distributed.run`` for ``args`` and ``worker``."""
    out = ["--nproc-per-node", _check_nproc(str(args.nproc))]
    if getattr(args, "standalone", None):
        out.append("--standalone")
    for dest, flag in TORCHRUN_OPTIONS:
        value = getattr(args, dest, None)
        if value is not None:
            out += [flag, str(value)]
    return [*out, "--max-restarts", "0", "--module", *worker]


def worker_argv(args: LaunchOptions, store: Path, resume_id: str | None) -> list[str]:
    """``torchrack run CONFIG ...`` as each worker runs it (no launcher options)."""
    out = ["torchrack", "run", str(args.config)]
    for item in args.overrides:
        out += ["--set", item]
    out += ["--store", str(store)]
    if resume_id is not None:
        out += ["--resume", resume_id]
    if args.locked:
        out += ["--locked", str(args.locked)]
    if args.progress is not None:
        out.append("--progress" if args.progress else "--no-progress")
    return out


def describe_failures(failures: dict[int, Any]) -> tuple[int, str]:
    """torchrun's failures (rank -> ProcessFailure) as ``(root-cause rank, one sentence)``.

    torchrun stops the surviving workers with SIGTERM once one fails, and may list them too; the
    root cause is the earliest failure that is not such a stop (lowest rank on a tie).
    """
    stopped = -int(signal.SIGTERM)

    def key(rank: int) -> tuple[bool, float, int]:
        f = failures[rank]
        return (int(getattr(f, "exitcode", 1)) == stopped, float(getattr(f, "timestamp", 0)), rank)

    first = min(failures, key=key)
    f = failures[first]
    code = int(getattr(f, "exitcode", 1))
    if code < 0:
        try:
            how = f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
    else:
        how = f"exited with code {code}"
    text = (f"worker rank {first} (local rank {getattr(f, 'local_rank', '?')}, pid "
            f"{getattr(f, 'pid', '?')} on {socket.gethostname()}) {how}")
    others = sorted(r for r in failures if r != first and int(getattr(failures[r], "exitcode", 1)) != stopped)
    if others:
        text += f"; also failed: rank{'s' if len(others) > 1 else ''} {', '.join(map(str, others))}"
    return first, text + "; torchrun stopped the other workers"


def _read_launch_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_failure(info: dict[str, Any], status: str, message: str) -> str:
    """Mark the run rank 0 created as ``status`` with ``message`` (plus rank 0's own error, when
    it recorded one); return the full error, with a note on the record, for the user."""
    run_id, store_path = info.get("run_id"), info.get("store")
    if not run_id or not store_path:
        return message + " (no run was recorded: rank 0 had not started one)"
    from torchrack_runs._store import RunStore

    try:
        with RunStore(store_path, create=False, read_only=None) as store:
            record = store.get(str(run_id))
            if record["status"] == "completed":
                return message + f" (run {run_id} had completed; its record is kept)"
            error = message
            if record.get("error") and record["status"] == "failed":
                error += f"; rank 0 reported: {record['error']}"
            store.finish_run(str(run_id), status, record.get("final_metrics") or {}, error, {})
    except Exception as exc:  # noqa: BLE001 - the failure itself matters more than its record
        return message + f" (run {run_id} could not be marked {status}: {type(exc).__name__}: {exc})"
    return error + f"; run {run_id} recorded as {status}"


@contextmanager
def _agent_signals() -> Iterator[None]:
    """SIGTERM/SIGINT raise torchrun's SignalException from the start, so that a signal (or the
    watchdog) before the agent installs its own handler still ends in the agent's shutdown path."""
    from torch.distributed.elastic.multiprocessing.api import SignalException

    def handler(signum: int, frame: Any) -> None:
        sig = signal.Signals(signum)
        raise SignalException(f"Process {os.getpid()} got signal: {sig.name}", sigval=sig)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in saved:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


def _default_threads(nproc: str) -> None:
    """OMP_NUM_THREADS = cores / processes when unset (torchrun would set 1)."""
    if "OMP_NUM_THREADS" in os.environ or not nproc.isdigit():
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ["OMP_NUM_THREADS"] = str(max(1, cores // int(nproc)))


def launch(args: LaunchOptions | Any, runner: Runner) -> int:
    """Check ``runner``'s config once (schema, components, lock, tensor contracts, a distributed
    accelerator, the run to resume), then run the workers through torchrun; 0 when every worker
    succeeded. ``args``: :class:`LaunchOptions`, or the parsed arguments of ``torchrack run``.

    Raises :class:`WorkerFailedError` (after marking the run failed) when a worker fails or the
    ``--timeout`` watchdog fires; KeyboardInterrupt when the launcher is interrupted.
    """
    if not isinstance(args, LaunchOptions):
        args = LaunchOptions.from_args(args)
    runner.check(args.locked)
    acc = runner.accelerator()
    if not getattr(acc, "distributed", False):
        named = runner.resolved.config.get("accelerator", {}).get("name", "none (the built-in cpu)")
        raise TorchrackError(
            f"--nproc {args.nproc} needs a distributed accelerator, but the config's accelerator is "
            f"{named}; set accelerator = {{ name = \"ddp\" }} in {args.config} "
            "(or --set accelerator.name=ddp)"
        )
    store = runner.default_store_path().expanduser().resolve()
    resume_id = None
    if args.resume:
        with runner.open_store(create=False, read_only=True) as reader:
            resume_id = runner.resume_record(reader, args.resume)["run_id"]
    return _run_workers(args, store=store, resume_id=resume_id)


def _run_workers(args: LaunchOptions, *, store: Path, resume_id: str | None) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args
    from torch.distributed.run import run as torchrun

    worker = worker_argv(args, store, resume_id)
    argv = torchrun_argv(args, worker)
    print("torchrack run: launching " + shlex.join([Path(sys.executable).name, "-m",
                                                    "torch.distributed.run", *argv]),
          file=sys.stderr, flush=True)
    timeout = args.timeout
    if timeout is not None and timeout <= 0:
        raise TorchrackError(f"--timeout must be a number of seconds > 0, found {timeout}")

    saved_env = {k: os.environ.get(k) for k in (LAUNCH_FILE_ENV, "OMP_NUM_THREADS")}
    tmp = Path(tempfile.mkdtemp(prefix="torchrack-launch-"))
    launch_file = tmp / "launch.json"
    os.environ[LAUNCH_FILE_ENV] = str(launch_file)
    _default_threads(str(args.nproc))
    fired = threading.Event()

    def watchdog() -> None:
        fired.set()
        os.kill(os.getpid(), signal.SIGTERM)

    timer = threading.Timer(timeout, watchdog) if timeout is not None else None
    started = time.monotonic()
    try:
        with _agent_signals():
            if timer is not None:
                timer.daemon = True
                timer.start()
            try:
                torchrun(parse_args(argv))  # type: ignore[no-untyped-call]
            except ChildFailedError as exc:
                rank, text = describe_failures(exc.failures)
                info = _read_launch_file(launch_file)
                raise WorkerFailedError(record_failure(info, "failed", text), rank,
                                        info.get("run_id")) from None
            except SignalException as exc:
                info = _read_launch_file(launch_file)
                if fired.is_set():
                    text = (f"the run did not finish within --timeout {timeout:g} s "
                            f"({time.monotonic() - started:.0f} s); every worker was stopped")
                    raise WorkerFailedError(record_failure(info, "failed", text), None,
                                            info.get("run_id")) from None
                record_failure(info, "interrupted",
                               f"the launcher got {exc.sigval.name}; every worker was stopped")
                raise KeyboardInterrupt from None
            finally:
                if timer is not None:
                    timer.cancel()
    except (TorchrackError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - rendezvous and agent errors, without a traceback
        raise TorchrackError(
            f"torchrun could not run the workers: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for child in tmp.iterdir():
            child.unlink(missing_ok=True)
        tmp.rmdir()
    return 0


class LaunchReporter:
    """Registered on rank 0's plugin manager: writes the run id and store for the launcher."""

    def __init__(self, path: str, store_path: str) -> None:
        self.path = Path(path)
        self.store_path = store_path

    @hookimpl(trylast=True)
    def torchrack_run_start(self, run: Run, config: dict[str, Any]) -> None:
        data = json.dumps({"run_id": run.id, "store": self.store_path, "pid": os.getpid()})
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(data)
            os.replace(tmp, self.path)
        except OSError:
            pass  # the launcher then cannot name the run; the run itself goes on
