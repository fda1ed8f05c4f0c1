"""The ``--nproc`` launcher without starting processes: torchrun's argument list, failure reports,
marking the run, and the refusals that come before any launch."""

from __future__ import annotations

import argparse
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
from torchrack_runs._launch import (
    LaunchReporter,
    add_launch_arguments,
    describe_failures,
    record_failure,
    torchrun_argv,
    worker_argv,
)
from torchrack_runs._store import RunStore

from ._dist import ROOT, torchrack


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--locked")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    add_launch_arguments(parser)
    return parser.parse_args(list(argv))


def test_torchrun_gets_the_worker_command_and_the_multi_node_options() -> None:
    args = _args("exp.toml", "--nproc", "4", "--nnodes", "2", "--rdzv-backend", "c10d",
                 "--rdzv-endpoint", "head:29400", "--rdzv-id", "job7", "--set", "run.epochs=3",
                 "--no-progress")
    worker = worker_argv(args, Path("/data/runs.sqlite"), "5")
    assert worker == ["torchrack", "run", "exp.toml", "--set", "run.epochs=3", "--store",
                      "/data/runs.sqlite", "--resume", "5", "--no-progress"]
    argv = torchrun_argv(args, worker)
    assert argv[:2] == ["--nproc-per-node", "4"]
    for flag, value in (("--nnodes", "2"), ("--rdzv-backend", "c10d"),
                        ("--rdzv-endpoint", "head:29400"), ("--rdzv-id", "job7")):
        assert argv[argv.index(flag) + 1] == value
    assert "--node-rank" not in argv and "--master-addr" not in argv
    assert argv[argv.index("--max-restarts") + 1] == "0"  # a restart would start another run
    assert argv[argv.index("--module"):] == ["--module", *worker]

    from torch.distributed.run import parse_args

    ns = parse_args(argv)  # torchrun itself accepts the list
    assert (ns.nproc_per_node, ns.nnodes, ns.rdzv_endpoint, ns.module) == ("4", "2", "head:29400", True)
    assert ns.training_script == "torchrack" and ns.training_script_args == worker[1:]


def test_static_rendezvous_options_pass_through() -> None:
    args = _args("exp.toml", "--nproc", "2", "--nnodes", "2", "--node-rank", "1",
                 "--master-addr", "10.0.0.1", "--master-port", "29500")
    argv = torchrun_argv(args, ["torchrack", "run", "exp.toml"])
    assert argv[argv.index("--node-rank") + 1] == "1"
    assert argv[argv.index("--master-addr") + 1] == "10.0.0.1"
    assert argv[argv.index("--master-port") + 1] == "29500"


@dataclass
class _Failure:  # the fields of torch.distributed.elastic's ProcessFailure that are read
    local_rank: int
    pid: int
    exitcode: int
    timestamp: int = 100


def test_the_failure_report_names_the_root_cause_not_the_ranks_torchrun_stopped() -> None:
    rank, text = describe_failures({
        0: _Failure(0, 11, -int(signal.SIGTERM)),
        1: _Failure(1, 12, -int(signal.SIGKILL)),
    })
    assert rank == 1
    assert text.startswith("worker rank 1 (local rank 1, pid 12 on ")
    assert "was killed by signal SIGKILL" in text
    assert "also failed" not in text

    rank, text = describe_failures({3: _Failure(1, 40, 1, timestamp=5), 2: _Failure(0, 39, 2, timestamp=9)})
    assert rank == 3 and "exited with code 1" in text and "also failed: rank 2" in text


def _record(store: RunStore) -> str:
    return store.create_run({"name": "r", "config": {}, "config_sha256": "0" * 64, "components": [],
                             "environment": {"python": "3", "torch": "2", "platform": "x", "torchrack": "0.1"},
                             "seed": 0})


def test_record_failure_marks_the_run_and_keeps_rank_zeros_own_error(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    with RunStore(path) as store:
        a, b, c = _record(store), _record(store), _record(store)
        store.finish_run(b, "failed", {}, "run failed: DistBackendError: reset by peer", {})
        store.finish_run(c, "completed", {"accuracy": 0.9}, None, {})
    msg = record_failure({"run_id": a, "store": str(path)}, "failed", "worker rank 1 died")
    assert msg == f"worker rank 1 died; run {a} recorded as failed"
    msg = record_failure({"run_id": b, "store": str(path)}, "failed", "worker rank 1 died")
    assert "rank 0 reported: run failed: DistBackendError" in msg
    msg = record_failure({"run_id": c, "store": str(path)}, "failed", "worker rank 1 died")
    assert "had completed; its record is kept" in msg
    assert "no run was recorded" in record_failure({}, "failed", "worker rank 1 died")
    with RunStore(path) as store:
        assert (store.get(a)["status"], store.get(a)["error"]) == ("failed", "worker rank 1 died")
        assert store.get(b)["error"].startswith("worker rank 1 died; rank 0 reported: ")
        assert store.get(c)["status"] == "completed"


def test_rank_zero_reports_its_run_to_the_launcher(tmp_path: Path) -> None:
    class _Run:
        id = "7"

    file = tmp_path / "launch.json"
    LaunchReporter(str(file), "/x/runs.sqlite").torchrack_run_start(run=_Run(), config={})
    import json

    assert json.loads(file.read_text())["run_id"] == "7"


def test_nproc_needs_a_distributed_accelerator(tmp_path: Path) -> None:
    proc = torchrack("run", str(ROOT / "examples" / "digits.toml"), "--nproc", "2", cwd=tmp_path)
    assert proc.returncode == 1
    assert "--nproc 2 needs a distributed accelerator" in proc.stderr
    assert "accelerator.name=ddp" in proc.stderr
    assert "launching" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / ".torchrack").exists()


@pytest.mark.parametrize("flag", [["--nnodes", "2"], ["--timeout", "5"], ["--rdzv-id", "x"]])
def test_launcher_options_need_nproc(tmp_path: Path, flag: list[str]) -> None:
    proc = torchrack("run", str(ROOT / "examples" / "digits-ddp.toml"), *flag, cwd=tmp_path)
    assert proc.returncode == 1
    assert f"{flag[0]} is a launcher option: use it with --nproc N" in proc.stderr


def test_a_bad_nproc_is_refused(tmp_path: Path) -> None:
    proc = torchrack("run", str(ROOT / "examples" / "digits-ddp.toml"), "--nproc", "two", cwd=tmp_path)
    assert proc.returncode == 1
    assert "--nproc must be a positive integer, gpu, cpu or auto; found 'two'" in proc.stderr
