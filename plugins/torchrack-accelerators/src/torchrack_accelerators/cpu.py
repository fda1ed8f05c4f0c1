"""``cpu``: one process on the CPU, with an optional thread count."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from torchrack_accelerators._base import check_int


class CPUAccelerator:
    """One process on the CPU. ``threads`` sets ``torch.set_num_threads`` at setup (None: torch's
    default, one per core, or ``OMP_NUM_THREADS``); teardown restores the previous count."""

    name = "cpu"
    distributed = False
    unavailable_reason: str | None = None

    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = check_int("cpu accelerator", "threads", threads, 1, optional=True)
        self.device = torch.device("cpu")
        self.rank = 0
        self.world_size = 1
        self._previous_threads: int | None = None

    @property
    def is_main(self) -> bool:
        return True

    def is_available(self) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        threads = self.threads if self.threads is not None else torch.get_num_threads()
        return {"name": self.name, "device": "cpu", "precision": "fp32", "threads": threads,
                "world_size": 1}

    def setup(self) -> None:
        if self.threads is not None:
            self._previous_threads = torch.get_num_threads()
            torch.set_num_threads(self.threads)

    def teardown(self) -> None:
        if self._previous_threads is not None:
            torch.set_num_threads(self._previous_threads)
            self._previous_threads = None

    def prepare_model(self, model: Any) -> Any:
        return model.to(self.device)

    def prepare_batch(self, inputs: Any, targets: Any) -> tuple[Any, Any]:
        return inputs, targets

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def backward_step(self, loss: Any, optimizer: Any) -> None:
        loss.backward()
        optimizer.step()

    def shard(self, indices: Any) -> Any:
        return indices

    def reduce_sum(self, tensors: dict[str, Any]) -> dict[str, Any]:
        return tensors

    def barrier(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"CPUAccelerator(threads={self.threads!r})"
