"""Bad sweep input: a clear message naming the file, key or point, exit 1 or 2, nothing written.

Every case runs the real command in a fresh folder and checks that no run store (so no sweep,
no run, no trial config) was created: each check happens before anything is recorded.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ._cli import torchrack
from ._sweep_helpers import sweep_file

CASES = [
    pytest.param(
        '"optimizr.params.lr" = [0.1]',
        ["/sweep/space/optimizr.params.lr: unknown key 'optimizr.params.lr'",
         "did you mean 'optimizer'?", "(line "], id="unknown-table"),
    pytest.param(
        '"optimizer.parms.lr" = [0.1]',
        ["point 1/1 (optimizer.parms.lr = 0.1): /optimizer: unknown key 'parms' (did you mean 'params'?)"],
        id="unknown-key-in-a-table"),
    pytest.param(
        '"optimizer.params.lr" = []',
        ["/sweep/space/optimizer.params.lr: an empty list of values", "an empty grid has no points"],
        id="empty-grid"),
    pytest.param(
        '"optimizer.params.lr" = { low = 0.01, high = 0.1 }',
        ['a range ({ low, high }) is for method = "random" or "optuna"'], id="range-in-a-grid"),
    pytest.param(
        '"model.head.params.in_features" = [64, 32]',
        ["point 2/2 (model.head.params.in_features = 32): head 'linear' (model.head) input 'features' "
         "expects [N, 32] but backbone 'mlp' (model.backbone) gives [N, 64]",
         "nothing was run or recorded"], id="a-point-breaks-a-tensor-contract"),
    pytest.param(
        '"loss.params.label_smoothing" = [0.1, 2.0]',
        ["point 2/2 (loss.params.label_smoothing = 2.0): /loss/params/label_smoothing: expected a "
         "number <= 1, found 2.0"], id="a-point-breaks-a-params-schema"),
    pytest.param(
        '"model.backbone" = [{ name = "mlp" }, { name = "no_such_net" }]',
        ["point 2/2 (model.backbone = no_such_net())", "no_such_net"], id="unknown-component"),
]


@pytest.mark.parametrize(("space", "expected"), CASES)
def test_a_bad_space_fails_before_anything_is_written(tmp_path: Path, space: str, expected: list[str]) -> None:
    path = sweep_file(tmp_path, f'[sweep]\nobjective = "accuracy"\n[sweep.space]\n{space}\n')
    proc = torchrack("sweep", str(path), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(f"torchrack sweep: error: {path}:")
    for text in expected:
        assert text in proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert not (tmp_path / ".torchrack").exists()


def test_an_objective_the_config_does_not_compute_is_refused(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, '[sweep]\nobjective = "f1"\n[sweep.space]\n"optimizer.params.lr" = [0.1]\n')
    proc = torchrack("sweep", str(path), cwd=tmp_path)
    assert proc.returncode == 1
    assert ("/sweep/objective: 'f1' is not a metric this config computes; its final metrics are: "
            "accuracy, eval_loss") in proc.stderr
    assert not (tmp_path / ".torchrack").exists()


@pytest.mark.parametrize(("args", "code", "expected"), [
    (["--jobs", "0"], 2, "argument --jobs: expected 1 or more workers, not 0"),
    (["--jobs", "two"], 2, "argument --jobs: expected a whole number of workers, not 'two'"),
    (["--executor", "slurm"], 2, "argument --executor: invalid choice: 'slurm'"),
    (["--address", "127.0.0.1:6379"], 1, "--address is the Ray cluster's: use it with --executor ray"),
    (["--devices", "cuda:0", "--executor", "ray"], 1, "--devices is for the local executor"),
    (["--devices", "gpu0"], 1, "--devices: 'gpu0' is not a CUDA device; expected e.g. --devices cuda:0,cuda:1"),
    (["--best-config"], 1, "--best-config is for `torchrack sweep show`, not for running a sweep"),
])
def test_bad_options_are_refused_before_anything_is_written(tmp_path: Path, args: list[str], code: int,
                                                            expected: str) -> None:
    path = sweep_file(tmp_path, '[sweep]\nobjective = "accuracy"\n[sweep.space]\n"optimizer.params.lr" = [0.1]\n')
    proc = torchrack("sweep", str(path), *args, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / ".torchrack").exists()


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine may have CUDA devices")
def test_devices_without_cuda_are_refused(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, '[sweep]\nobjective = "accuracy"\n[sweep.space]\n"optimizer.params.lr" = [0.1]\n')
    proc = torchrack("sweep", str(path), "--devices", "cuda:0,cuda:1", cwd=tmp_path)
    assert proc.returncode == 1
    assert "--devices: cuda:0 does not exist: this machine has no CUDA device" in proc.stderr
    assert not (tmp_path / ".torchrack").exists()


def test_a_sweep_file_without_a_sweep_table_and_a_missing_base(tmp_path: Path) -> None:
    plain = tmp_path / "plain.toml"
    plain.write_text('base = "nowhere.toml"\n[sweep]\nobjective = "accuracy"\n'
                     '[sweep.space]\n"run.epochs" = [1]\n', encoding="utf-8")
    proc = torchrack("sweep", str(plain), cwd=tmp_path)
    assert proc.returncode == 1
    assert "/base: no config file at" in proc.stderr and "nowhere.toml" in proc.stderr
    no_table = tmp_path / "no_table.toml"
    no_table.write_text('[run]\nepochs = 1\n', encoding="utf-8")
    proc = torchrack("sweep", str(no_table), cwd=tmp_path)
    assert proc.returncode == 1
    assert "/sweep: missing: a sweep file is an experiment config plus a [sweep] table" in proc.stderr


def test_results_of_a_sweep_that_is_not_there(tmp_path: Path) -> None:
    proc = torchrack("sweep", "show", "latest", cwd=tmp_path)
    assert proc.returncode == 1
    assert "no run store at" in proc.stderr
    proc = torchrack("sweep", "show", cwd=tmp_path)
    assert proc.returncode == 1 and "`torchrack sweep show` needs a sweep: an id or 'latest'" in proc.stderr
    proc = torchrack("sweep", "plot", "1", cwd=tmp_path)
    assert proc.returncode == 1 and "needs -o FILE.png" in proc.stderr
    proc = torchrack("sweep", "--resume", "3", cwd=tmp_path)
    assert proc.returncode == 1 and "--resume 3: no run store at" in proc.stderr
    proc = torchrack("sweep", cwd=tmp_path)
    assert proc.returncode == 1 and "give a sweep file (torchrack sweep SWEEP.toml) or --resume ID" in proc.stderr


def test_set_reaches_the_sweep_table_and_a_bad_value_there_is_one_plain_error(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, '[sweep]\nobjective = "accuracy"\n[sweep.space]\n"optimizer.params.lr" = [0.1]\n')
    bad = torchrack("sweep", str(path), "--set", "sweep.method=bayes", cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "/sweep/method: expected one of 'grid', 'random', 'optuna', found 'bayes'" in bad.stderr
    assert "unknown key 'sweep'" not in bad.stderr  # not passed on to every trial's config
    assert not (tmp_path / ".torchrack").exists()
