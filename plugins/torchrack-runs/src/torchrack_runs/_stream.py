"""Streaming data: a dataset that gives its splits batch by batch, read by a DataLoader.

A dataset may provide ``stream(split) -> torch.utils.data.Dataset`` (map-style: ``len(ds)`` and
``ds[i] -> (input, target)``, picklable) besides ``load(split)``. When it does, and the config's
``data.stream`` is not false, the trainer never holds a whole split: each epoch's batches are the
same as those of the in-memory path (the seeded permutation of (seed, epoch), cut into global
batches, each process taking its shard), handed to a ``torch.utils.data.DataLoader`` as its batch
sampler, and decoded by ``data.workers`` worker processes (0: in the training process). Batches
come back in order, so a run gives the same batches, the same metrics and the same resume
whatever the number of workers; the workers' own seeds follow from (seed, epoch) too.

A failure inside a worker comes back as the dataset's own message (a torchrack error, e.g. one
naming an unreadable file, keeps its text), never a worker traceback.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from torchrack import TorchrackError

from torchrack_runs._config import ResolvedConfig, Slot
from torchrack_runs._pipeline import call_component


class StreamError(TorchrackError):
    """A streaming dataset failed while a batch was read (in a DataLoader worker or not)."""


@dataclass(frozen=True)
class _Failure:
    """What a worker sends back instead of raising: picklable, with the exception's text."""

    type_name: str
    message: str
    torchrack: bool


class _Guarded:
    """``dataset[i]``, with any exception turned into a :class:`_Failure` (so that a worker's
    failure reaches the trainer as a message, not as a traceback pasted into one)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except Exception as exc:  # noqa: BLE001 - reported by the trainer, naming the dataset
            return _Failure(type(exc).__name__, str(exc), isinstance(exc, TorchrackError))


def _collate(items: list[Any]) -> Any:
    import torch.utils.data

    for item in items:
        if isinstance(item, _Failure):
            return item
    return torch.utils.data.default_collate(items)


class Streamed:
    """The train and evaluation splits of a streaming dataset, and their epochs' batches."""

    def __init__(self, slot: Slot, dataset: Any, train_split: str, eval_split: str, *,
                 workers: int, pin_memory: bool) -> None:
        self.slot, self.workers, self.pin_memory = slot, int(workers), bool(pin_memory)
        self.splits = {name: self._open(dataset, name) for name in dict.fromkeys((train_split, eval_split))}
        self.train_split, self.eval_split = train_split, eval_split

    def _open(self, dataset: Any, split: str) -> Any:
        ds = call_component(self.slot, f"stream({split!r})", dataset.stream, split)
        if not (hasattr(ds, "__len__") and hasattr(ds, "__getitem__")):
            who = self.slot.info.qualname if self.slot.info else self.slot.ref.get("name")
            raise StreamError(
                f"dataset {who} ({self.slot.key}): stream({split!r}) returned a "
                f"{type(ds).__name__}, expected a map-style torch.utils.data.Dataset (len(ds) and "
                "ds[i] -> (input, target)); fix the plugin, or set data.stream = false"
            )
        return ds

    def sizes(self) -> tuple[int, int]:
        """``(train samples, evaluation samples)``."""
        return len(self.splits[self.train_split]), len(self.splits[self.eval_split])

    def train_batches(self, perm: Any, batch_size: int, steps: int, shard: Any, seed: int) -> Iterator[Any]:
        """The ``steps`` (inputs, targets) batches of an epoch: this process's shard of each
        global batch of ``perm``, exactly the samples the in-memory path indexes."""
        plan = [shard(perm[m * batch_size:(m + 1) * batch_size]) for m in range(steps)]
        return self._batches(self.train_split, plan, seed)

    def eval_batches(self, batch_size: int, shard: Any) -> Iterator[Any]:
        """The evaluation split's batches in order, each process its shard (as ``evaluate``)."""
        import torch

        n = len(self.splits[self.eval_split])
        plan = [shard(torch.arange(start, min(start + batch_size, n))) for start in range(0, n, batch_size)]
        return self._batches(self.eval_split, plan, 0)

    def _batches(self, split: str, plan: Sequence[Any], seed: int) -> Iterator[Any]:
        import torch
        import torch.utils.data

        ds = self.splits[split]
        lists = [[int(i) for i in idx.tolist()] for idx in plan]
        guarded: Any = _Guarded(ds)  # map-style: len() and [i], as DataLoader needs
        loader: Any = torch.utils.data.DataLoader(
            guarded, batch_sampler=[batch for batch in lists if batch], collate_fn=_collate,
            num_workers=self.workers, pin_memory=self.pin_memory,
            generator=torch.Generator().manual_seed(seed),
        )
        batches = iter(loader)
        empty: tuple[Any, Any] | None = None
        for batch_indices in lists:
            if not batch_indices:  # an empty shard still takes part in the step's collectives
                if empty is None:
                    x0, y0 = self._check(split, _collate([_Guarded(ds)[0]]))
                    empty = (x0[:0], y0[:0])
                yield empty
                continue
            try:
                batch = next(batches)
            except TorchrackError:
                raise
            except Exception as exc:  # noqa: BLE001 - a worker that died, a DataLoader failure
                who = self.slot.info.qualname if self.slot.info else self.slot.ref.get("name")
                raise StreamError(f"dataset {who} ({self.slot.key}): reading split {split!r} failed: "
                                  f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
            yield self._check(split, batch)

    def _check(self, split: str, batch: Any) -> Any:
        if isinstance(batch, _Failure):
            if batch.torchrack:
                raise StreamError(batch.message)
            who = self.slot.info.qualname if self.slot.info else self.slot.ref.get("name")
            raise StreamError(
                f"dataset {who} ({self.slot.key}) failed reading split {split!r}"
                f"{' in a DataLoader worker' if self.workers else ''}: {batch.type_name}: "
                f"{batch.message.splitlines()[0] if batch.message else '(no message)'}"
            )
        return batch


def open_stream(resolved: ResolvedConfig, dataset: Any, accelerator: Any) -> Streamed | None:
    """The streamed splits of ``dataset``, or None when it has no ``stream`` or the config says
    ``data.stream = false`` (the trainer then loads whole splits)."""
    data = resolved.config["data"]
    if not data.get("stream", True) or not callable(getattr(dataset, "stream", None)):
        return None
    device = getattr(accelerator, "device", None)
    return Streamed(resolved.slot("data.dataset"), dataset, data.get("train_split", "train"),
                    data.get("eval_split", "test"), workers=int(data.get("workers", 0)),
                    pin_memory=getattr(device, "type", "cpu") == "cuda")
