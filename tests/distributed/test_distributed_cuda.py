"""The digits demo on a GPU: ``cuda`` (eager fp32 and the tuned loop) and ``ddp`` over nccl.

Skipped, saying why, where torch sees no CUDA device (CI); benchmarks/gpu_check.sh runs them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ._dist import DIGITS_DDP, ROOT, show, torchrack

DIGITS = ROOT / "examples" / "digits.toml"

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_digits_on_one_gpu_in_fp32(tmp_path: Path) -> None:
    proc = torchrack("run", str(DIGITS), "--set", "accelerator.name=cuda", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = show(tmp_path)
    acc = record["environment"]["accelerator"]
    assert (acc["name"], acc["device"], acc["precision"]) == ("cuda", "cuda:0", "fp32")
    assert acc["gpu"]
    assert record["final_metrics"]["accuracy"] >= 0.93


def test_digits_with_the_tuned_loop(tmp_path: Path) -> None:
    precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    proc = torchrack(
        "run", str(DIGITS), "--set", "accelerator.name=cuda",
        "--set", f"accelerator.params.precision={precision}",
        "--set", "accelerator.params.channels_last=true",
        "--set", "accelerator.params.compile=true",
        "--set", "accelerator.params.compile_mode=reduce-overhead",
        "--set", "run.deterministic=false", "--set", "data.drop_last=true",
        "--set", "run.epochs=4", cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    record = show(tmp_path)
    acc = record["environment"]["accelerator"]
    assert (acc["precision"], acc["channels_last"], acc["compile_mode"]) == (
        precision, True, "reduce-overhead")
    assert record["final_metrics"]["accuracy"] >= 0.9


def test_ddp_on_one_gpu_without_torchrun(tmp_path: Path) -> None:
    proc = torchrack("run", str(DIGITS_DDP), "--set", "run.epochs=3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    acc = show(tmp_path)["environment"]["accelerator"]
    assert (acc["device"], acc["backend"], acc["world_size"]) == ("cuda:0", "nccl", 1)


@pytest.mark.skipif(torch.cuda.is_available() and torch.cuda.device_count() < 2,
                    reason="needs 2 CUDA GPUs")
def test_ddp_on_two_gpus_with_nccl(tmp_path: Path) -> None:
    proc = torchrack("run", str(DIGITS_DDP), "--nproc", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = show(tmp_path)
    acc = record["environment"]["accelerator"]
    assert (acc["backend"], acc["world_size"]) == ("nccl", 2)
    assert record["final_metrics"]["accuracy"] >= 0.93
