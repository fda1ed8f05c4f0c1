"""A run moves what exists before it out of the cyclic collector's way (gc.freeze) and gives it
back when it ends, however it ends; it never unfreezes what someone else froze."""

from __future__ import annotations

import gc
from typing import Any

import pytest
import torchrack_runs._trainer as trainer
from torchrack import Registry
from torchrack.hookspecs import plugin_manager
from torchrack_metrics.accuracy import Accuracy
from torchrack_runs._config import resolve_config

from .test_runs_component_errors import CONFIG


def _fit() -> Any:
    reg = Registry.discover()
    return trainer.fit(resolve_config(CONFIG, reg), reg, plugin_manager(), progress=False, log=lambda m: None)


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    counts: list[int] = []
    real = trainer.train_epoch

    def counting(*args: Any, **kwargs: Any) -> Any:
        counts.append(gc.get_freeze_count())
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "train_epoch", counting)
    assert gc.get_freeze_count() == 0
    return counts


def test_a_run_trains_with_the_heap_frozen_and_unfreezes_it(seen: list[int]) -> None:
    assert _fit().final_metrics  # it ran to its end
    assert seen and all(c > 0 for c in seen)  # torch's objects, the model: frozen while training
    assert gc.get_freeze_count() == 0


def test_a_failed_run_unfreezes_too(seen: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Any, *args: Any) -> Any:
        raise ValueError("planted")

    monkeypatch.setattr(Accuracy, "update", broken)
    with pytest.raises(Exception, match="planted"):
        _fit()
    assert seen and gc.get_freeze_count() == 0


def test_what_someone_else_froze_stays_frozen(seen: list[int]) -> None:
    gc.freeze()
    try:
        assert _fit().final_metrics  # it ran to its end
        assert gc.get_freeze_count() > 0  # not unfrozen by the run (freed objects leave the count)
    finally:
        gc.unfreeze()
