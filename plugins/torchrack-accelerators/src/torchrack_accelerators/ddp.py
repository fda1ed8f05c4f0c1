"""``ddp``: ``DistributedDataParallel`` over the processes that torchrun starts.

Start it with ``torchrack run CONFIG --nproc N`` (which runs ``torch.distributed.run``), or with
``torchrun ... -m torchrack run CONFIG`` directly. Each process reads ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` from torchrun's environment; without them (a
plain ``torchrack run``) it is one process, world size 1, through the same code path.

- Every global batch of ``B`` indices is split into contiguous slices, one per rank (sizes differ
  by at most one); the loss of a smaller slice is weighted so that the averaged gradient equals the
  gradient of the mean loss over the whole global batch. Without batch norm (whose statistics are
  per process), training with world size ``W`` and batch ``B`` follows one process with batch
  ``B`` up to floating-point rounding.
- Metric states and loss sums are summed with ``all_reduce``; only rank 0 is the main process (run
  store, checkpoints, hooks, logs).
- Collectives time out after ``timeout`` seconds (the process-group timeout); a worker that dies is
  noticed by torchrun, which stops the others. When a collective fails, every rank joins a
  ``monitored_barrier`` on a side gloo group, whose error names the ranks that did not arrive.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import inspect
import os
import re
import threading
from typing import Any

import torch

from torchrack_accelerators._base import (
    COMPILE_MODES,
    COMPILE_SCOPES,
    PRECISIONS,
    AcceleratorParamError,
    autocast_context,
    backward_and_step,
    backward_only,
    check_bool,
    check_choice,
    check_int,
    check_number,
    cuda_problem,
    finish_model,
    gpu_description,
    grad_scaler,
    place_model,
    place_split,
    step_only,
    to_device,
)

#: Seconds a failed collective waits at most for the other ranks in the diagnosing barrier.
DIAGNOSIS_TIMEOUT = 20.0


# Process groups that teardown took out of use, kept alive until it is safe to free them.
#
# Why: since PyTorch 2.11 every ``backward()`` stashes a ``contextvars.Context`` in thread-local
# storage (pytorch/pytorch#173568), and each gloo work item started from a DDP hook copies that
# storage. Such a work item may be destroyed on gloo's ``pt_gloo_runloop`` thread, which then needs
# the GIL. If the last reference to the process group is the DDP ``Reducer``'s, dropping the model
# runs ``~ProcessGroupGloo`` (which joins that thread) with the GIL held: a deadlock, seen here in
# about one teardown in twenty (pytorch/pytorch#56297 describes the class of bug; #180700 and
# #182083 fix related paths). Holding the Python ``ProcessGroup`` here makes its own destructor,
# which releases the GIL, the one that frees the group: at the next ``setup()`` or at exit.
_RETIRED: list[Any] = []
_RETIRED_LOCK = threading.Lock()


def _retire(group: Any) -> None:
    if group is not None:
        with _RETIRED_LOCK:
            _RETIRED.append(group)


def release_retired_groups() -> int:
    """Free the process groups that ``teardown()`` retired; returns how many were held.

    Called by ``setup()`` and at interpreter exit; call it yourself only after the DDP models built
    on those groups are gone or idle.
    """
    with _RETIRED_LOCK:
        groups = list(_RETIRED)
        _RETIRED.clear()
    count = len(groups)
    del groups  # the ProcessGroup destructor releases the GIL while it joins gloo's threads
    return count


atexit.register(release_retired_groups)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[start, stop)`` of rank ``rank``'s contiguous slice of ``n`` items (sizes differ by <= 1)."""
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class DDPAccelerator:
    """One process of a ``torch.distributed`` job; DistributedDataParallel around the model.

    ``device``: "auto" (CUDA when this process's ``LOCAL_RANK`` has a GPU, else CPU), "cpu" or
    "cuda" (``cuda:LOCAL_RANK``). ``backend``: "auto" (nccl on CUDA, gloo on CPU), "gloo" or
    "nccl". ``timeout``: seconds before a collective that waits on a dead or hung rank fails.
    ``sync_buffers``: rank 0's buffers (batch-norm statistics) sent to every rank at each forward.
    ``threads``: CPU threads per process (None: torch's default, or ``OMP_NUM_THREADS``, which
    ``torchrack run --nproc`` sets to cores / processes). The CUDA options are those of ``cuda``.
    """

    name = "ddp"
    distributed = True

    def __init__(
        self,
        *,
        device: str = "auto",
        backend: str = "auto",
        timeout: float = 600.0,
        threads: int | None = None,
        precision: str = "fp32",
        channels_last: bool = False,
        compile: bool = False,
        compile_mode: str = "default",
        compile_scope: str = "model",
        non_blocking: bool = True,
        data_on_device: bool = True,
        cudnn_benchmark: bool = True,
        find_unused_parameters: bool = False,
        sync_buffers: bool = True,
    ) -> None:
        who = "ddp accelerator"
        self.device_kind = check_choice(who, "device", device, ("auto", "cpu", "cuda"))
        self.backend_choice = check_choice(who, "backend", backend, ("auto", "gloo", "nccl"))
        self.timeout = check_number(who, "timeout", timeout, 0.0)
        self.threads = check_int(who, "threads", threads, 1, optional=True)
        self.precision = check_choice(who, "precision", precision, PRECISIONS)
        self.channels_last = check_bool(who, "channels_last", channels_last)
        self.compile = check_bool(who, "compile", compile)
        self.compile_mode = check_choice(who, "compile_mode", compile_mode, COMPILE_MODES)
        self.compile_scope = check_choice(who, "compile_scope", compile_scope, COMPILE_SCOPES)
        if self.compile_scope == "step":
            raise AcceleratorParamError(
                f"{who}: compile_scope 'step' is not supported by ddp (its gradient all-reduce runs in "
                "backward hooks, outside one compiled step); use compile_scope 'model' with compile = true")
        self.non_blocking = check_bool(who, "non_blocking", non_blocking)
        self.data_on_device = check_bool(who, "data_on_device", data_on_device)
        self.cudnn_benchmark = check_bool(who, "cudnn_benchmark", cudnn_benchmark)
        self.find_unused_parameters = check_bool(who, "find_unused_parameters", find_unused_parameters)
        self.sync_buffers = check_bool(who, "sync_buffers", sync_buffers)
        if self.device_kind == "cpu" and self.precision != "fp32":
            raise AcceleratorParamError(
                f"{who}: precision {self.precision!r} needs device 'cuda' (or 'auto' on a GPU); "
                "device 'cpu' trains in 'fp32'")
        # torchrun's environment; without it, one process (world size 1).
        self.rank = _env_int("RANK", 0)
        self.world_size = max(1, _env_int("WORLD_SIZE", 1))
        self.local_rank = _env_int("LOCAL_RANK", 0)
        self.launched = "RANK" in os.environ and "WORLD_SIZE" in os.environ
        kind = self.device_kind
        if kind == "auto":
            kind = "cuda" if cuda_problem(self.local_rank) is None else "cpu"
        self.device = torch.device("cuda", self.local_rank) if kind == "cuda" else torch.device("cpu")
        self.backend = self.backend_choice if self.backend_choice != "auto" else (
            "nccl" if kind == "cuda" else "gloo")
        if kind == "cpu" and self.precision != "fp32":
            self.precision = "fp32"  # device "auto" fell back to the CPU: autocast stays off
        self.unavailable_reason: str | None = None
        self._owns_group = False
        self._side_group: Any = None
        self._scaler: Any = None
        self._loss_scale = 1.0
        self._previous_threads: int | None = None
        self._previous_benchmark: bool | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- availability and the record -------------------------------------------------------------

    def is_available(self) -> bool:
        self.unavailable_reason = self._problem()
        return self.unavailable_reason is None

    def _problem(self) -> str | None:
        try:
            import torch.distributed as dist

            if not dist.is_available():
                return f"torch {torch.__version__} was built without torch.distributed"
            if self.rank >= self.world_size or self.local_rank < 0:
                return (f"inconsistent torchrun environment: RANK={self.rank}, "
                        f"WORLD_SIZE={self.world_size}, LOCAL_RANK={self.local_rank}")
            if self.backend == "gloo" and not dist.is_gloo_available():
                return "backend 'gloo' is not available in this torch build"
            if self.backend == "nccl":
                if self.device.type != "cuda":
                    return "backend 'nccl' needs CUDA devices (device 'cpu' was chosen); use 'gloo'"
                if not dist.is_nccl_available():
                    return "backend 'nccl' is not available in this torch build; use 'gloo'"
            if self.device.type == "cuda":
                problem = cuda_problem(self.local_rank, self.precision)
                if problem:
                    return f"{problem} (local rank {self.local_rank} uses cuda:{self.local_rank})"
        except Exception as exc:  # noqa: BLE001 - is_available() must never raise
            return f"torch.distributed could not be queried: {type(exc).__name__}: {exc}"
        return None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "device": str(self.device), "backend": self.backend,
            "world_size": self.world_size, "rank": self.rank, "local_rank": self.local_rank,
            "local_world_size": _env_int("LOCAL_WORLD_SIZE", 1),
            "nnodes": max(1, self.world_size // max(1, _env_int("LOCAL_WORLD_SIZE", 1))),
            "precision": self.precision, "timeout": self.timeout,
            "threads": self.threads if self.threads is not None else torch.get_num_threads(),
        }
        if self.device.type == "cuda":
            out.update({"channels_last": self.channels_last, "compile": self.compile,
                        "compile_mode": self.compile_mode if self.compile else None,
                        **gpu_description(self.local_rank)})
        return out

    # -- lifecycle -------------------------------------------------------------------------------

    def setup(self) -> None:
        import torch.distributed as dist

        if self.threads is not None:
            self._previous_threads = torch.get_num_threads()
            torch.set_num_threads(self.threads)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            self._previous_benchmark = torch.backends.cudnn.benchmark
            torch.backends.cudnn.benchmark = self.cudnn_benchmark
        self._scaler = grad_scaler(self.device.type, self.precision)
        timeout = datetime.timedelta(seconds=self.timeout)
        release_retired_groups()
        if not dist.is_initialized():
            if self.launched:
                dist.init_process_group(self.backend, rank=self.rank, world_size=self.world_size,
                                        timeout=timeout)
            else:  # a plain process: a group of one, so the code path is the same
                dist.init_process_group(self.backend, store=dist.HashStore(), rank=0, world_size=1,
                                        timeout=timeout)
            self._owns_group = True
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        if self.world_size > 1:
            # A second, gloo group: after a collective fails, it tells which ranks are missing.
            self._side_group = dist.new_group(backend="gloo", timeout=timeout)

    def teardown(self) -> None:
        import torch.distributed as dist

        if self._owns_group and dist.is_initialized():
            _retire(dist.distributed_c10d._get_default_group())
            _retire(self._side_group)
            with contextlib.suppress(Exception):
                dist.destroy_process_group()
        self._owns_group = False
        self._side_group = None
        if self._previous_threads is not None:
            torch.set_num_threads(self._previous_threads)
            self._previous_threads = None
        if self._previous_benchmark is not None:
            torch.backends.cudnn.benchmark = self._previous_benchmark
            self._previous_benchmark = None

    # -- the model and the batches ---------------------------------------------------------------

    def prepare_model(self, model: Any) -> Any:
        from torch.nn.parallel import DistributedDataParallel

        place_model(model, self.device, self.channels_last)
        options: dict[str, Any] = {}
        if not self.sync_buffers:  # torch >= 2.13 renamed broadcast_buffers
            params = inspect.signature(DistributedDataParallel.__init__).parameters
            options["forward_sync_buffers" if "forward_sync_buffers" in params
                    else "broadcast_buffers"] = False
        ddp = DistributedDataParallel(
            model,
            device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=self.find_unused_parameters,
            gradient_as_bucket_view=True,
            **options,
        )
        return finish_model(ddp, channels_last=self.channels_last, compile=self.compile,
                            compile_mode=self.compile_mode)

    def place_data(self, inputs: Any, targets: Any) -> tuple[Any, Any]:
        """A whole split, moved to this rank's GPU once when ``data_on_device`` (CUDA only)."""
        if self.device.type != "cuda" or not self.data_on_device:
            return inputs, targets
        return place_split(inputs, targets, self.device)

    def prepare_batch(self, inputs: Any, targets: Any) -> tuple[Any, Any]:
        return (to_device(inputs, self.device, self.non_blocking),
                to_device(targets, self.device, self.non_blocking))

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        ctx: contextlib.AbstractContextManager[Any] = autocast_context(self.device.type, self.precision)
        return ctx

    def backward_step(self, loss: Any, optimizer: Any) -> None:
        # DDP averages gradients over ranks; a rank with a smaller slice weighs its mean loss by
        # world_size * n_rank / n_global, so the result is the gradient of the global mean.
        backward_and_step(loss, optimizer, self._scaler, self._loss_scale)

    def backward(self, loss: Any) -> None:
        backward_only(loss, self._scaler, self._loss_scale)

    def optimizer_step(self, optimizer: Any) -> None:
        step_only(optimizer, self._scaler)

    # -- across processes ------------------------------------------------------------------------

    def shard(self, indices: Any) -> Any:
        n = len(indices)
        start, stop = shard_bounds(n, self.rank, self.world_size)
        local = stop - start
        self._loss_scale = 1.0 if n == 0 or local * self.world_size == n else (
            self.world_size * local / n)
        return indices[start:stop]

    def reduce_sum(self, tensors: dict[str, Any]) -> dict[str, Any]:
        if self.world_size == 1:
            return tensors
        import torch.distributed as dist

        out: dict[str, Any] = {}
        for key, value in tensors.items():
            if isinstance(value, torch.Tensor):
                t = value.detach().to(self.device, copy=True)
                if t.dtype == torch.bool:
                    t = t.to(torch.int64)
                dist.all_reduce(t, op=dist.ReduceOp.SUM)
                out[key] = t.to(device=value.device, dtype=value.dtype)
            else:  # a plain number
                t = torch.tensor(float(value), dtype=torch.float64, device=self.device)
                dist.all_reduce(t, op=dist.ReduceOp.SUM)
                out[key] = type(value)(t.item()) if isinstance(value, (int, float)) else t.item()
        return out

    def barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            if self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    def explain_failure(self, exc: BaseException) -> str | None:
        """After a failed collective: the error in short, and which ranks are missing; else None.

        Every rank whose collective failed joins a ``monitored_barrier`` on the side gloo group;
        rank 0 reports the ranks that did not arrive within a short timeout (a hung process), or
        the connection error of a dead one.
        """
        if self.world_size == 1 or self._side_group is None or not _is_collective_failure(exc):
            return None
        import torch.distributed as dist

        what = f"{concise(exc)} (rank {self.rank} of {self.world_size})"
        wait = datetime.timedelta(seconds=min(DIAGNOSIS_TIMEOUT, self.timeout))
        try:
            dist.monitored_barrier(group=self._side_group, timeout=wait, wait_all_ranks=True)
        except Exception as barrier_exc:  # noqa: BLE001 - its message is the diagnosis
            return f"{what}; checking the other ranks: {concise(barrier_exc)}"
        return f"{what}; every rank still answered a check afterwards"

    def __repr__(self) -> str:
        return (f"DDPAccelerator(rank={self.rank}, world_size={self.world_size}, "
                f"device={str(self.device)!r}, backend={self.backend!r})")


def concise(exc: BaseException) -> str:
    """The first line of an error, without gloo's source location and boilerplate advice."""
    text = str(exc).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    text = re.sub(r"^\[[^\]]*\.(?:cc|cpp|h|hpp):\d+\]\s*", "", text)
    text = re.split(r"\s+This (?:is typically|may indicate)", text)[0]
    return text.rstrip(". ")


def _is_collective_failure(exc: BaseException) -> bool:
    """A failure that came out of torch.distributed (timeout, closed connection, NCCL error)."""
    try:
        import torch.distributed as dist

        dist_errors: tuple[type[BaseException], ...] = (dist.DistError,)
    except (ImportError, AttributeError):
        dist_errors = ()
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if dist_errors and isinstance(cur, dist_errors):
            return True
        text = f"{type(cur).__name__}: {cur}".lower()
        if any(w in text for w in ("gloo", "nccl", "timed out", "timeout", "connection reset",
                                   "connection closed", "broken pipe", "c10d")):
            return True
        cur = cur.__cause__ or cur.__context__
    return False
