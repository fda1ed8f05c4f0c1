"""The ``ddp`` accelerator in one process (world size 1, through the same code), its torchrun
environment, sharding, and the failure diagnosis; multi-process runs are in tests/distributed."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torchrack_accelerators._base import AcceleratorParamError
from torchrack_accelerators.ddp import DDPAccelerator, concise, shard_bounds


@pytest.fixture(autouse=True)
def _no_torchrun_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_without_torchrun_it_is_one_process_through_the_same_code() -> None:
    acc = DDPAccelerator(device="cpu")
    assert (acc.rank, acc.world_size, acc.is_main, acc.backend) == (0, 1, True, "gloo")
    assert acc.is_available(), acc.unavailable_reason
    assert not dist.is_initialized()  # constructing starts nothing
    acc.setup()
    try:
        assert dist.is_initialized() and dist.get_world_size() == 1
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 3)
        ref = torch.nn.Linear(4, 3)
        ref.load_state_dict(model.state_dict())
        wrapped = acc.prepare_model(model)
        assert isinstance(wrapped, torch.nn.parallel.DistributedDataParallel)
        x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
        idx = acc.shard(torch.arange(8))
        assert idx.tolist() == list(range(8))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with acc.autocast():
            loss = torch.nn.functional.cross_entropy(wrapped(x[idx]), y[idx])
        acc.backward_step(loss, opt)
        ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1)
        torch.nn.functional.cross_entropy(ref(x), y).backward()
        ref_opt.step()
        torch.testing.assert_close(model.weight, ref.weight, rtol=0, atol=1e-7)
        sums = acc.reduce_sum({"n": torch.tensor(3), "x": torch.tensor([1.5, 2.0])})
        assert sums["n"].item() == 3 and sums["x"].tolist() == [1.5, 2.0]
        acc.barrier()
        described = acc.describe()
        assert (described["name"], described["world_size"], described["backend"]) == ("ddp", 1, "gloo")
    finally:
        acc.teardown()
    assert not dist.is_initialized()


def test_torchrun_environment_decides_rank_and_main(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    acc = DDPAccelerator(device="cpu")
    assert (acc.rank, acc.world_size, acc.local_rank, acc.is_main, acc.launched) == (3, 4, 1, False, True)
    monkeypatch.setenv("RANK", "0")
    assert DDPAccelerator(device="cpu").is_main


@pytest.mark.parametrize("n", [0, 1, 2, 7, 32, 33])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shards_are_contiguous_cover_everything_once_and_differ_by_at_most_one(n: int, world: int) -> None:
    bounds = [shard_bounds(n, r, world) for r in range(world)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    sizes = [b - a for a, b in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_uneven_shards_weigh_the_loss_so_the_average_is_the_global_mean() -> None:
    acc = DDPAccelerator(device="cpu")
    acc.world_size = 2
    for rank, size in ((0, 11), (1, 10)):
        acc.rank = rank
        assert len(acc.shard(torch.arange(21))) == size
        # DDP averages over ranks: each sample of this rank weighs scale / (W * n_rank) = 1 / N
        assert acc._loss_scale / (2 * size) == pytest.approx(1 / 21)
    acc.shard(torch.arange(20))
    assert acc._loss_scale == 1.0


@pytest.mark.parametrize(("params", "message"), [
    ({"backend": "mpi"}, "backend must be one of 'auto', 'gloo', 'nccl'"),
    ({"device": "tpu"}, "device must be one of 'auto', 'cpu', 'cuda'"),
    ({"timeout": 0}, "timeout must be a number > 0"),
    ({"device": "cpu", "precision": "bf16"}, "precision 'bf16' needs device 'cuda'"),
])
def test_bad_params_are_refused(params: dict, message: str) -> None:
    with pytest.raises(AcceleratorParamError, match="ddp accelerator: " + message):
        DDPAccelerator(**params)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer without a GPU")
def test_nccl_or_cuda_without_a_gpu_is_unavailable_with_a_reason() -> None:
    acc = DDPAccelerator(device="cuda")
    assert acc.is_available() is False and "CUDA" in (acc.unavailable_reason or "") + "CUDA"
    acc = DDPAccelerator(device="cpu", backend="nccl")
    assert acc.is_available() is False
    assert "nccl" in (acc.unavailable_reason or "")
    auto = DDPAccelerator()  # auto falls back to the CPU and gloo
    assert (auto.device.type, auto.backend) == ("cpu", "gloo") and auto.is_available()


def test_failure_messages_are_made_concise() -> None:
    exc = RuntimeError("[/__w/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:537] Read error "
                       "[127.0.0.1]:24992: Connection reset by peer. This is typically caused by a "
                       "remote worker hanging. GLHF!\nmore")
    assert concise(exc) == "Read error [127.0.0.1]:24992: Connection reset by peer"
    acc = DDPAccelerator(device="cpu")
    assert acc.explain_failure(exc) is None  # one process: nothing to check


def test_a_world_of_one_trains_exactly_like_the_builtin_cpu_accelerator() -> None:
    from torchrack import Registry
    from torchrack.hookspecs import plugin_manager

    pytest.importorskip("torchrack_runs", reason="a whole run needs torchrack-runs (the trainer); not installed")
    from torchrack_runs import fit, resolve_config

    def config(acc: str | None) -> dict:
        cfg = {
            "schema_version": 1, "run": {"name": "w1", "seed": 1, "epochs": 2},
            "data": {"dataset": {"name": "synthetic_images", "params": {
                "channels": 1, "height": 8, "width": 8, "num_classes": 3, "train_size": 70,
                "test_size": 20}}, "batch_size": 16},
            "augment": [{"name": "hflip"}],
            "model": {"backbone": {"name": "small_cnn", "params": {"widths": [4, 8]}},
                      "head": {"name": "linear", "params": {"in_features": 8, "num_classes": 3}}},
            "loss": {"name": "cross_entropy"},
            "metrics": [{"name": "accuracy"}],
        }
        if acc:
            cfg["accelerator"] = {"name": acc, "params": {"device": "cpu"}}
        return cfg

    reg = Registry.discover()
    needed = ("torchrack-datasets", "torchrack-augment", "torchrack-backbones", "torchrack-heads",
              "torchrack-losses", "torchrack-metrics")
    missing = [d for d in needed if reg.plugin(d) is None]
    if missing:  # e.g. `nox -s isolation`: this plugin alone with the core
        pytest.skip(f"a whole run needs the first-party components; not installed: {', '.join(missing)}")
    runs = [fit(resolve_config(config(a), reg), reg, plugin_manager(), progress=False, log=lambda m: None)
            for a in (None, "ddp")]
    assert runs[1].environment["world_size"] == 1
    assert runs[1].environment["accelerator"]["name"] == "ddp"
    assert runs[0].final_metrics == runs[1].final_metrics
    assert not dist.is_initialized()


_CYCLES = r"""
import sys, torch
from torchrack_accelerators.ddp import DDPAccelerator
for i in range(int(sys.argv[1])):
    acc = DDPAccelerator(device="cpu")
    acc.setup()
    model = acc.prepare_model(torch.nn.Linear(4, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    acc.backward_step(model(torch.randn(8, 4)).sum(), opt)
    acc.teardown()
    del model, opt  # the DDP Reducer's reference to the process group goes here
    print(i, flush=True)
"""


def test_teardown_then_dropping_the_model_never_deadlocks(tmp_path) -> None:
    """Regression: before ddp.py retired its process groups, dropping a DDP model after teardown
    hung in ~ProcessGroupGloo within about 30 of these cycles (torch 2.13, see ddp._RETIRED)."""
    import subprocess
    import sys

    cycles = 150
    script = tmp_path / "cycles.py"
    script.write_text(_CYCLES)
    try:
        done = subprocess.run([sys.executable, str(script), str(cycles)], capture_output=True,
                              text=True, timeout=60)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        last = out.split()[-1] if out.split() else "none"
        pytest.fail(f"setup/backward/teardown/del deadlocked after cycle {last} of {cycles}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == str(cycles - 1)
