"""``__NAME__`` accelerator: one CPU process with a chosen number of torch threads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch


class __CLASS__:
    """Implements ``torchrack.accelerator.Accelerator`` for a single CPU process."""

    def __init__(self, threads: int = 0) -> None:
        if threads < 0:
            raise ValueError(f"__NAME__ accelerator: threads must be >= 0, found {threads}")
        self.threads = threads
        self.device = torch.device("cpu")
        self.rank = 0
        self.world_size = 1

    @property
    def is_main(self) -> bool:
        return True

    def is_available(self) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        return {"name": "__NAME__", "device": "cpu", "threads": self.threads or torch.get_num_threads()}

    def setup(self) -> None:
        if self.threads:
            torch.set_num_threads(self.threads)

    def teardown(self) -> None:
        return None

    def prepare_model(self, model: Any) -> Any:
        return model.to(self.device)

    def prepare_batch(self, inputs: Any, targets: Any) -> tuple[Any, Any]:
        return inputs, targets

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        yield

    def backward_step(self, loss: Any, optimizer: Any) -> None:
        loss.backward()
        optimizer.step()

    def shard(self, indices: Any) -> Any:
        return indices

    def reduce_sum(self, tensors: dict[str, Any]) -> dict[str, Any]:
        return tensors

    def barrier(self) -> None:
        return None
