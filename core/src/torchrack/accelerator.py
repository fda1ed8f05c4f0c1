"""The accelerator contract, and the built-in CPU accelerator used when a config names none.

An accelerator decides where and how a pipeline runs: it places the model and batches, wraps the
forward pass (autocast), runs backward and the optimizer step (with a gradient scaler where
needed), shards each epoch across processes, sums metric states across processes, and says which
process is the main one (only it writes the run store and checkpoints). Components never change
between a laptop, one GPU and many processes: only the config's ``accelerator`` does.

Plugins register accelerators under the ``torchrack.accelerators`` entry-point group; the factory
is called with the params from the config and returns an object with this interface.

:class:`SingleProcessAccelerator` holds the one-process defaults (rank 0, no sharding, identity
reductions); the built-in :class:`CPUAccelerator` and torchrack-accelerators' ``cuda`` derive
from it.

Optional members, used when present (``getattr``), so that older accelerators keep working:

- ``unavailable_reason: str | None``: why ``is_available()`` said no (the trainer prints it);
- ``distributed: bool``: True for an accelerator that runs one process per rank under torchrun
  (``torchrack run --nproc N`` refuses any other);
- ``place_data(inputs, targets) -> (inputs, targets)``: called once per in-memory split, e.g. to
  keep the whole split on the GPU so that batches are gathered there;
- ``explain_failure(exc) -> str | None``: after a failure, what the accelerator knows about it
  (e.g. which ranks stopped answering a collective); called on every rank; must not raise.

The trainer's hot loop (:func:`torchrack_runs._trainer.train_epoch`) calls ``shard``,
``prepare_batch``, ``autocast`` and ``backward_step`` once per step and nothing else of the
accelerator: these should not wait for the device.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Accelerator(Protocol):
    """What the trainer calls. ``device`` is a ``torch.device``; ranks are 0-based."""

    device: Any
    rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        """True in the one process that writes the run store, checkpoints and logs."""

    def is_available(self) -> bool:
        """Whether this accelerator can run here; must not raise."""

    def describe(self) -> dict[str, Any]:
        """JSON-able description for the run record (name, device, precision, world size...)."""

    def setup(self) -> None:
        """Start what the accelerator needs (process group, thread count); called once."""

    def teardown(self) -> None:
        """Release what setup started; called once, also after a failure."""

    def prepare_model(self, model: Any) -> Any:
        """Place (and possibly wrap: DDP, compile, channels_last) the model; return what to call."""

    def prepare_batch(self, inputs: Any, targets: Any) -> tuple[Any, Any]:
        """Move one batch to the device (non-blocking where possible)."""

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Context for the forward pass and loss (mixed precision, or nothing)."""

    def backward_step(self, loss: Any, optimizer: Any) -> None:
        """Backward, then the optimizer step (through a gradient scaler where needed).

        Gradient accumulation (``[train] accumulate > 1``) also needs the two halves apart:
        ``backward(loss)`` (gradients added, scaled where needed) and ``optimizer_step(optimizer)``
        (unscale, step, update the scaler). They are optional: :class:`SingleProcessAccelerator`
        and the first-party accelerators have them; a run that accumulates with an accelerator
        that lacks them is refused before training, naming it.
        """

    def shard(self, indices: Any) -> Any:
        """This process's part of an epoch's index permutation (all of it in one process)."""

    def reduce_sum(self, tensors: dict[str, Any]) -> dict[str, Any]:
        """Sum tensors across processes (identity in one process)."""

    def barrier(self) -> None:
        """Wait for every process (no-op in one process)."""


class SingleProcessAccelerator:
    """What every one-process accelerator shares: rank 0 of a world of 1, the main process;
    epochs not sharded, sums not reduced, barriers free; batches used as given, no autocast, a
    plain ``backward()`` then ``step()``. Subclasses set ``device`` and override what differs."""

    name = "single-process"
    distributed = False
    unavailable_reason: str | None = None
    device: Any
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return True

    def is_available(self) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "device": str(self.device), "world_size": 1}

    def setup(self) -> None:
        return None

    def teardown(self) -> None:
        return None

    def prepare_model(self, model: Any) -> Any:
        return model.to(self.device)

    def prepare_batch(self, inputs: Any, targets: Any) -> tuple[Any, Any]:
        return inputs, targets

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def backward_step(self, loss: Any, optimizer: Any) -> None:
        loss.backward()
        optimizer.step()

    def backward(self, loss: Any) -> None:
        """Backward only: gradients are added to those already there (accumulation)."""
        loss.backward()

    def optimizer_step(self, optimizer: Any) -> None:
        """The optimizer step after one or more :meth:`backward` calls."""
        optimizer.step()

    def shard(self, indices: Any) -> Any:
        return indices

    def reduce_sum(self, tensors: dict[str, Any]) -> dict[str, Any]:
        return tensors

    def barrier(self) -> None:
        return None


class CPUAccelerator(SingleProcessAccelerator):
    """One process on the CPU: the default when a config names no accelerator.

    ``threads`` sets ``torch.set_num_threads`` at setup (None: torch's default, one per core, or
    ``OMP_NUM_THREADS``); teardown restores the previous count. The ``cpu`` component of
    torchrack-accelerators is this class with its params checked.
    """

    name = "cpu"

    def __init__(self, threads: int | None = None) -> None:
        import torch

        self.device = torch.device("cpu")
        self.threads = threads
        self._previous_threads: int | None = None

    def describe(self) -> dict[str, Any]:
        import torch

        threads = self.threads if self.threads is not None else torch.get_num_threads()
        return {"name": self.name, "device": "cpu", "precision": "fp32", "threads": threads,
                "world_size": 1}

    def setup(self) -> None:
        if self.threads is not None:
            import torch

            self._previous_threads = torch.get_num_threads()
            torch.set_num_threads(self.threads)

    def teardown(self) -> None:
        if self._previous_threads is not None:
            import torch

            torch.set_num_threads(self._previous_threads)
            self._previous_threads = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threads={self.threads!r})"
