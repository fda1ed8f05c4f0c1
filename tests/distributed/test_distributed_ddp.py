"""End to end on two CPU processes (ddp, gloo): parity with one process, the digits demo, and what
happens when a rank dies or hangs (the run ends within a timeout, naming the rank, recorded as
failed, and resumes to the metrics of an uninterrupted run)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from ._dist import DIGITS_DDP, chaos_digits_config, chaos_plugin, parity_config, show, torchrack

pytestmark = pytest.mark.slow


def test_two_processes_end_with_the_parameters_of_one(tmp_path: Path) -> None:
    # 245 samples, global batch 32: 7 full batches split 16/16 and a last one of 21 split 11/10
    # (weighted so that the averaged gradient is the gradient of the global mean).
    (tmp_path / "one.toml").write_text(parity_config(accelerator=None, train_size=245, epochs=2))
    (tmp_path / "ddp.toml").write_text(parity_config(accelerator="ddp", train_size=245, epochs=2))
    one = torchrack("run", "one.toml", "--store", "one/runs.sqlite", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    two = torchrack("run", "ddp.toml", "--nproc", "2", "--store", "two/runs.sqlite", cwd=tmp_path)
    assert two.returncode == 0, two.stderr

    rec_one = show(tmp_path, "1", store="one/runs.sqlite")
    rec_two = show(tmp_path, "1", store="two/runs.sqlite")
    assert rec_one["environment"]["world_size"] == 1
    assert rec_two["environment"]["world_size"] == 2
    losses = [e["metrics"]["train_loss"] for e in rec_one["epochs"]]
    assert losses[1] < losses[0]  # it trained
    a = torch.load(rec_one["checkpoint"], weights_only=True)["model"]
    b = torch.load(rec_two["checkpoint"], weights_only=True)["model"]
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], atol=1e-6, rtol=0, msg=name)
    assert [e["metrics"]["train_loss"] for e in rec_two["epochs"]] == pytest.approx(losses, abs=1e-6)


def test_digits_ddp_on_two_processes(tmp_path: Path) -> None:
    proc = torchrack("run", str(DIGITS_DDP), "--nproc", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    record = show(tmp_path)
    assert record["status"] == "completed"
    assert record["environment"]["world_size"] == 2
    acc = record["environment"]["accelerator"]
    assert (acc["name"], acc["backend"], acc["world_size"]) == ("ddp", "gloo", 2)
    assert record["final_metrics"]["accuracy"] >= 0.93
    assert len(record["epochs"]) == 12
    assert Path(record["checkpoint"]).is_file()
    listing = torchrack("runs", "list", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert len(show(tmp_path, "1")["epochs"]) == 12  # one run: only rank 0 records
    assert torchrack("runs", "show", "2", cwd=tmp_path).returncode == 1


@pytest.fixture()
def chaos(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    site = chaos_plugin(tmp_path)
    (tmp_path / "exp.toml").write_text(chaos_digits_config(timeout=10, epochs=3))
    return tmp_path, {"PYTHONPATH": str(site)}


def test_a_killed_rank_ends_the_run_naming_it_and_the_run_resumes(chaos) -> None:
    cwd, env = chaos
    whole = torchrack("run", "exp.toml", "--nproc", "2", cwd=cwd, env=env)
    assert whole.returncode == 0, whole.stderr

    # Rank 1 SIGKILLs itself at its 60th batch: in epoch 2 (45 batches per epoch).
    start = time.monotonic()
    killed = torchrack("run", "exp.toml", "--nproc", "2", "--timeout", "120", cwd=cwd,
                       env={**env, "CHAOS_ACTION": "kill", "CHAOS_RANK": "1", "CHAOS_CALL": "60"})
    elapsed = time.monotonic() - start
    assert killed.returncode == 1, killed.stderr
    assert elapsed < 90
    err = killed.stderr
    assert "Traceback" not in err
    assert "torchrack run: error: worker rank 1 " in err
    assert "killed by signal SIGKILL" in err
    assert "run 2 recorded as failed" in err
    record = show(cwd, "2", env)
    assert record["status"] == "failed"
    assert "worker rank 1 " in record["error"] and "SIGKILL" in record["error"]
    assert len(record["epochs"]) == 1  # epoch 1 finished and was checkpointed

    resumed = torchrack("run", "exp.toml", "--nproc", "2", "--resume", "2", cwd=cwd, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming run 2 at epoch 2/3" in resumed.stderr
    first, second = show(cwd, "1", env), show(cwd, "2", env)
    assert second["status"] == "completed"
    assert second["environment"]["world_size"] == 2
    assert second["final_metrics"] == first["final_metrics"]


def test_a_hung_rank_ends_the_run_within_the_process_group_timeout(chaos) -> None:
    cwd, env = chaos
    start = time.monotonic()
    hung = torchrack("run", "exp.toml", "--nproc", "2", cwd=cwd,
                     env={**env, "CHAOS_ACTION": "hang", "CHAOS_RANK": "1", "CHAOS_CALL": "5"})
    elapsed = time.monotonic() - start
    assert hung.returncode == 1, hung.stderr
    assert elapsed < 90  # 10 s process-group timeout, then at most 10 s of diagnosis
    err = hung.stderr
    assert "Traceback" not in err
    assert "worker rank 0 " in err and "exited with code 1" in err  # rank 0 gave up waiting
    assert "Ranks 1 failed to pass monitoredBarrier" in err  # ... and names the hung rank
    record = show(cwd, "1", env)
    assert record["status"] == "failed"
    assert "Ranks 1 failed to pass monitoredBarrier" in record["error"]


def test_the_launcher_watchdog_stops_a_run_that_takes_too_long(chaos) -> None:
    cwd, env = chaos
    # Every rank's collectives would wait 10 s; the watchdog fires first.
    (cwd / "exp.toml").write_text(chaos_digits_config(timeout=300, epochs=3))
    start = time.monotonic()
    proc = torchrack("run", "exp.toml", "--nproc", "2", "--timeout", "15", cwd=cwd,
                     env={**env, "CHAOS_ACTION": "hang", "CHAOS_RANK": "1", "CHAOS_CALL": "50"})
    elapsed = time.monotonic() - start
    assert proc.returncode == 1, proc.stderr
    assert elapsed < 60
    assert "Traceback" not in proc.stderr
    assert "did not finish within --timeout 15 s" in proc.stderr
    record = show(cwd, "1", env)
    assert record["status"] == "failed"
    assert "--timeout 15 s" in record["error"]


def test_a_failing_rank_is_named_with_its_own_error(chaos) -> None:
    cwd, env = chaos
    proc = torchrack("run", "exp.toml", "--nproc", "2", cwd=cwd,
                     env={**env, "CHAOS_ACTION": "fail", "CHAOS_RANK": "1", "CHAOS_CALL": "3"})
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr
    assert "Traceback" not in err
    # The rank's own message (naming the component), then the launcher's summary.
    assert "rank 1: augmentation" in err and "planted augmentation failure" in err
    assert "worker rank 1 " in err and "exited with code 1" in err
    assert show(cwd, "1", env)["status"] == "failed"
