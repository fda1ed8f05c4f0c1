"""The ``cpu`` accelerator, and what every accelerator of the distribution shares: the contract,
the manifest, availability that never raises."""

from __future__ import annotations

import json
from importlib import resources

import pytest
import torch
from torchrack.accelerator import Accelerator
from torchrack_accelerators._base import AcceleratorParamError
from torchrack_accelerators.cpu import CPUAccelerator
from torchrack_accelerators.cuda import CUDAAccelerator
from torchrack_accelerators.ddp import DDPAccelerator

CLASSES = {"cpu": CPUAccelerator, "cuda": CUDAAccelerator, "ddp": DDPAccelerator}


def _manifest() -> dict:
    text = resources.files("torchrack_accelerators").joinpath("torchrack-manifest.json").read_text()
    return json.loads(text)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_each_accelerator_follows_the_contract_and_its_manifest(name: str) -> None:
    spec = _manifest()["components"][name]
    assert spec["kind"] == "accelerator"
    props = spec["params"]["properties"]
    assert spec["params"]["additionalProperties"] is False
    defaults = {k: v["default"] for k, v in props.items()}
    acc = CLASSES[name](**defaults)  # the manifest's defaults are the constructor's
    assert isinstance(acc, Accelerator)
    ok = acc.is_available()
    assert isinstance(ok, bool)
    assert ok == (acc.unavailable_reason is None)
    if ok:
        described = acc.describe()
        json.dumps(described)
        assert described["name"] == name and described["world_size"] >= 1


def test_cpu_threads_are_set_at_setup_and_restored_at_teardown() -> None:
    before = torch.get_num_threads()
    acc = CPUAccelerator(threads=1)
    assert torch.get_num_threads() == before  # constructing changes nothing
    acc.setup()
    try:
        assert torch.get_num_threads() == 1
        assert acc.describe() == {"name": "cpu", "device": "cpu", "precision": "fp32", "threads": 1,
                                  "world_size": 1}
    finally:
        acc.teardown()
    assert torch.get_num_threads() == before


def test_cpu_trains_like_a_plain_loop() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    ref = torch.nn.Linear(4, 3)
    ref.load_state_dict(model.state_dict())
    acc = CPUAccelerator()
    acc.setup()
    fwd = acc.prepare_model(model)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    for m, step in ((fwd, acc.backward_step), (ref, None)):
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        xb, yb = acc.prepare_batch(x, y)
        with acc.autocast():
            loss = torch.nn.functional.cross_entropy(m(xb), yb)
        if step is not None:
            step(loss, opt)
        else:
            loss.backward()
            opt.step()
    acc.teardown()
    torch.testing.assert_close(model.weight, ref.weight, rtol=0, atol=0)
    idx = torch.arange(5)
    assert acc.shard(idx) is idx
    assert acc.reduce_sum({"a": idx})["a"] is idx
    assert acc.is_main and acc.rank == 0 and acc.world_size == 1


@pytest.mark.parametrize("threads", [0, -1, 1.5, "2", True])
def test_cpu_refuses_bad_thread_counts(threads: object) -> None:
    with pytest.raises(AcceleratorParamError, match="cpu accelerator: threads must be an integer >= 1"):
        CPUAccelerator(threads=threads)  # type: ignore[arg-type]


def test_the_distribution_is_registered() -> None:
    from torchrack import Registry

    reg = Registry.discover()
    for name, cls in CLASSES.items():
        info = reg.resolve("accelerator", f"torchrack-accelerators:{name}")
        assert reg.load(info) is cls
