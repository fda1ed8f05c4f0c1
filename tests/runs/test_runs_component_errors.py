"""A component failing during a run is named (kind, name, config key, distribution, stage); a
failure of the accelerator's collectives is reported as the accelerator's, not a metric's."""

from __future__ import annotations

from typing import Any

import pytest
from torchrack import Registry
from torchrack._errors import TorchrackError
from torchrack.accelerator import CPUAccelerator
from torchrack.hookspecs import plugin_manager
from torchrack_metrics.accuracy import Accuracy
from torchrack_runs._config import resolve_config
from torchrack_runs._pipeline import ComponentError
from torchrack_runs._trainer import fit

CONFIG: dict[str, Any] = {
    "schema_version": 1, "run": {"name": "errors", "seed": 0, "epochs": 1},
    "data": {"dataset": {"name": "synthetic_images", "params": {
        "channels": 1, "height": 8, "width": 8, "num_classes": 3, "train_size": 32, "test_size": 16}},
        "batch_size": 16},
    "model": {"backbone": {"name": "mlp", "params": {"widths": [8]}},
              "head": {"name": "linear", "params": {"in_features": 8, "num_classes": 3}}},
    "loss": {"name": "cross_entropy"},
    "metrics": [{"name": "accuracy"}],
}


def _fit() -> Any:
    reg = Registry.discover()
    return fit(resolve_config(CONFIG, reg), reg, plugin_manager(), progress=False, log=lambda m: None)


@pytest.mark.parametrize("method", ["update", "state", "load_state", "compute"])
def test_a_failing_metric_is_named_with_its_stage(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any, *args: Any) -> Any:
        raise ValueError(f"planted in {method}")

    monkeypatch.setattr(Accuracy, method, broken)
    with pytest.raises(ComponentError) as info:
        _fit()
    message = str(info.value)
    assert message.startswith("metric torchrack-metrics:accuracy (metrics.0) from torchrack-metrics "), message
    assert message.endswith(f" failed during {method}(): ValueError: planted in {method}"), message


def test_a_failed_collective_is_not_blamed_on_a_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    real = CPUAccelerator.reduce_sum

    def lost(self: Any, tensors: Any) -> Any:
        if set(tensors) in ({"loss", "seen"}, {"total", "count"}):  # loss sums pass; metric state fails
            return real(self, tensors)
        raise TorchrackError("all_reduce failed: rank 1 did not arrive")

    monkeypatch.setattr(CPUAccelerator, "reduce_sum", lost)
    with pytest.raises(TorchrackError) as info:
        _fit()
    assert not isinstance(info.value, ComponentError)
    assert str(info.value) == "all_reduce failed: rank 1 did not arrive"
