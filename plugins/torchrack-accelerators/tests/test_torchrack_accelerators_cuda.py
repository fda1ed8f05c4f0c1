"""The ``cuda`` accelerator: its params are checked everywhere; it runs where a GPU is present."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torchrack_accelerators._base import AcceleratorParamError, ChannelsLastInput
from torchrack_accelerators.cuda import CUDAAccelerator

needs_cuda = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize(("params", "message"), [
    ({"precision": "fp8"}, "precision must be one of 'fp32', 'bf16', 'fp16', found 'fp8'"),
    ({"compile_mode": "fast"}, "compile_mode must be one of 'default', 'reduce-overhead', 'max-autotune'"),
    ({"device_index": -1}, "device_index must be an integer >= 0, found -1"),
    ({"channels_last": "yes"}, "channels_last must be true or false, found 'yes'"),
    ({"compile": 1}, "compile must be true or false, found 1"),
    ({"non_blocking": None}, "non_blocking must be true or false"),
])
def test_bad_params_are_refused_with_the_param_named(params: dict[str, Any], message: str) -> None:
    with pytest.raises(AcceleratorParamError, match="cuda accelerator: " + message.replace("(", r"\(")):
        CUDAAccelerator(**params)


def test_bad_params_are_caught_by_static_validation(tmp_path) -> None:
    from torchrack import Registry

    pytest.importorskip("torchrack_runs", reason="config validation is torchrack-runs'; not installed")
    from torchrack_runs import ConfigError, resolve_config

    config = {
        "schema_version": 1, "run": {"name": "x"}, "data": {"dataset": {"name": "digits"}},
        "model": {"backbone": {"name": "small_cnn"}, "head": {"name": "linear"}},
        "loss": {"name": "cross_entropy"},
        "accelerator": {"name": "cuda", "params": {"precision": "fp8", "compile_mode": "fast"}},
    }
    with pytest.raises(ConfigError) as info:
        resolve_config(config, Registry.discover(), "exp.toml")
    text = str(info.value)
    assert "/accelerator/params/precision" in text and "/accelerator/params/compile_mode" in text


def test_the_tuned_loop_is_a_valid_config() -> None:
    acc = CUDAAccelerator(precision="bf16", channels_last=True, compile=True,
                          compile_mode="reduce-overhead")
    assert (acc.precision, acc.channels_last, acc.compile, acc.compile_mode) == (
        "bf16", True, True, "reduce-overhead")
    assert acc.device == torch.device("cuda", 0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer without a GPU")
def test_without_a_gpu_it_is_unavailable_and_says_why() -> None:
    acc = CUDAAccelerator(device_index=3)
    assert acc.is_available() is False
    reason = acc.unavailable_reason
    assert reason and ("CUDA" in reason or "GPU" in reason)
    assert torch.__version__ in reason
    assert acc.describe()["device"] == "cuda:3"  # describing never raises either


def test_channels_last_input_wrapper_converts_4d_inputs() -> None:
    seen: list[torch.Tensor] = []

    class Probe(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return x

    wrapped = ChannelsLastInput(Probe())
    wrapped(torch.zeros(2, 3, 4, 5))
    assert seen[-1].is_contiguous(memory_format=torch.channels_last)
    wrapped(torch.zeros(2, 3))
    assert seen[-1].shape == (2, 3)


# -- on a GPU -------------------------------------------------------------------------------------


def _model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10))


def _steps(acc: CUDAAccelerator, n: int = 3) -> tuple[torch.nn.Module, list[float]]:
    torch.manual_seed(0)
    model = _model()
    acc.setup()
    try:
        fwd = acc.prepare_model(model)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        x, y = acc.place_data(torch.rand(64, 3, 16, 16), torch.randint(0, 10, (64,)))
        losses = []
        for i in range(n):
            xb, yb = acc.prepare_batch(x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16])
            with acc.autocast():
                loss = torch.nn.functional.cross_entropy(fwd(xb), yb)
            opt.zero_grad(set_to_none=True)
            acc.backward_step(loss, opt)
            losses.append(float(loss))
    finally:
        acc.teardown()
    return model, losses


@pytest.mark.parametrize("params", [
    {},
    {"precision": "bf16"},
    {"precision": "fp16"},
    {"channels_last": True},
    {"data_on_device": False, "non_blocking": True},
], ids=["fp32", "bf16", "fp16-scaler", "channels_last", "host-data"])
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_steps_on_the_gpu(params: dict[str, Any]) -> None:
    acc = CUDAAccelerator(**params)
    assert acc.is_available(), acc.unavailable_reason
    model, losses = _steps(acc)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert next(model.parameters()).device.type == "cuda"
    if params.get("channels_last"):
        assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    described = acc.describe()
    assert described["gpu"] and described["precision"] == params.get("precision", "fp32")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_autocast_gives_the_chosen_dtype() -> None:
    for precision, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16), ("fp32", torch.float32)):
        acc = CUDAAccelerator(precision=precision)
        if not acc.is_available():
            continue
        lin = torch.nn.Linear(4, 4).cuda()
        with acc.autocast():
            out = lin(torch.randn(2, 4, device="cuda"))
        assert out.dtype == dtype


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_compiled_training_steps_with_cuda_graphs() -> None:
    acc = CUDAAccelerator(precision="bf16" if torch.cuda.is_bf16_supported() else "fp32",
                          channels_last=True, compile=True, compile_mode="reduce-overhead")
    _, losses = _steps(acc, n=4)
    assert all(torch.isfinite(torch.tensor(losses)))
