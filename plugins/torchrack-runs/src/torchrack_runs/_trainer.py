"""The trainer: an explicit fit/evaluate loop, read top to bottom.

Order of one run: build components (seeded) -> for each epoch: reseed from (seed, epoch), shuffle,
augment, forward, loss, backward, step; evaluate on the held-out split; write a checkpoint
atomically -> final evaluation -> finalize the record. Hooks fire at run, epoch and step
boundaries only. Every random draw comes from generators seeded by (seed, epoch), so a run resumed
from the checkpoint of epoch k continues exactly as an uninterrupted run would, and two CPU runs of
one config give bit-identical metrics.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchrack import TorchrackError
from torchrack.accelerator import Accelerator
from torchrack.plugins import Registry

from torchrack_runs._alerts import AlertError, Alerts, non_finite_alert

# Building, checkpoints and hook calls live in their own modules; their names stay importable
# from here, where they lived before.
from torchrack_runs._build import Pipeline as Pipeline
from torchrack_runs._build import blame as blame
from torchrack_runs._build import build as build
from torchrack_runs._build import build_accelerator as build_accelerator
from torchrack_runs._build import component_records as component_records
from torchrack_runs._build import guard as guard
from torchrack_runs._build import record_components
from torchrack_runs._build import sensitive_paths as sensitive_paths
from torchrack_runs._checkpoint import atomic_save as atomic_save
from torchrack_runs._checkpoint import load_checkpoint as load_checkpoint
from torchrack_runs._checkpoint import restore
from torchrack_runs._config import ResolvedConfig, Slot
from torchrack_runs._environment import environment
from torchrack_runs._hooks import DistributedError as DistributedError
from torchrack_runs._hooks import HookError as HookError
from torchrack_runs._hooks import call_hook, explain_failure
from torchrack_runs._optim import build_optimizer, build_scheduler
from torchrack_runs._pipeline import ComponentError, call_component
from torchrack_runs._redact import redact
from torchrack_runs._strategies import (
    EMA,
    BestCheckpoints,
    Freezer,
    Monitor,
    NonFiniteError,
    Stepper,
    TrainSettings,
    apply_multipliers,
    check_accumulation,
    param_groups,
)
from torchrack_runs._stream import open_stream
from torchrack_runs._whole_step import WholeStep, check_whole_step, train_epoch_whole

if TYPE_CHECKING:
    import pluggy

    from torchrack_runs._store import RunStore


@dataclass
class Run:
    """The live run handed to hooks. ``id`` is set by the store tracker at run start."""

    name: str
    config: dict[str, Any]
    config_sha256: str
    components: list[dict[str, Any]]
    environment: dict[str, Any]
    seed: int
    resume_of: str | None = None
    id: str | None = None
    final_metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    run_dir: Path | None = None
    sensitive_paths: list[str] = field(default_factory=list)
    #: The config with every default written out (component params, optimizer, scheduler, run,
    #: data and train settings): ``torchrack runs show RUN --config`` prints it as TOML.
    resolved_config: dict[str, Any] | None = None
    #: Checkpoints kept by ``[train.checkpoints]`` (1-based epochs), best marked.
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    #: Why the run ended before its last epoch: ``{"epoch", "step", "reason", "by"}`` (1-based).
    stopped: dict[str, Any] | None = None
    #: Backbones pre-trained from recorded runs: ``{"role", "run_id", "checkpoint", "epoch"}``.
    pretrained_from: list[dict[str, Any]] = field(default_factory=list)
    _stop_request: tuple[str, str] | None = None

    def request_stop(self, reason: str, by: str = "hook") -> None:
        """Ask the trainer to end the run after the current epoch (from a hook at epoch end);
        the run completes normally and its record says ``stopped`` with ``reason``."""
        self._stop_request = (str(reason), str(by))


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of every generator used in ``epoch`` (a function of seed and epoch only)."""
    return (seed * 1_000_003 + epoch * 7_919 + 17) % (2**63)


def _clock(seconds: float) -> str:
    """``42s``, ``3m05s`` or ``1h02m``: an ETA or duration for the progress line."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class _Progress:
    """A one-line progress bar on a terminal (rate in samples/s, ETA of the epoch and of the
    run); silent when stderr is not a TTY, where the per-epoch line carries the same figures."""

    def __init__(self, enabled: bool | None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.epoch_started = time.perf_counter()
        self.epoch_seconds: list[float] = []

    def start_epoch(self) -> None:
        self.epoch_started = time.perf_counter()

    def rates(self, done: int, total: int, samples: int, epochs_left: int) -> tuple[float, float, float]:
        """``(samples/s, epoch ETA, run ETA)`` after ``done`` of ``total`` steps this epoch."""
        elapsed = max(time.perf_counter() - self.epoch_started, 1e-9)
        rate = samples / elapsed
        epoch_eta = elapsed * (total - done) / max(done, 1)
        per_epoch = (sum(self.epoch_seconds) / len(self.epoch_seconds) if self.epoch_seconds
                     else elapsed * total / max(done, 1))
        return rate, epoch_eta, epoch_eta + per_epoch * epochs_left

    def update(self, epoch: int, epochs: int, step: int, steps: int, loss: float | None,
               samples: int = 0) -> None:
        if not self.enabled:
            return
        width = 24
        done = int(width * step / max(steps, 1))
        text = f"\repoch {epoch + 1}/{epochs} [{'#' * done}{'.' * (width - done)}] {step}/{steps}"
        if loss is not None:
            text += f" loss {loss:.4f}"
        if samples:
            rate, eta, run_eta = self.rates(step, steps, samples, epochs - epoch - 1)
            text += f" {rate:,.0f} samples/s ETA {_clock(eta)} (run {_clock(run_eta)})"
        sys.stderr.write(text + "\x1b[K")
        sys.stderr.flush()

    def end_epoch(self, seconds: float) -> None:
        self.epoch_seconds.append(seconds)
        if self.enabled:
            sys.stderr.write("\n")

    def run_eta(self, epochs_left: int) -> float:
        if not self.epoch_seconds:
            return float("nan")
        return sum(self.epoch_seconds) / len(self.epoch_seconds) * epochs_left


def evaluate(pipe: Pipeline, resolved: ResolvedConfig, registry: Registry, x: Any, y: Any,
             batch_size: int, metric_slots: list[tuple[Slot, Any]] | None = None, *,
             batches: Iterator[Any] | None = None) -> dict[str, Any]:
    """Run the model over ``(x, y)``; every metric, plus the mean loss ``eval_loss``.

    ``batches``: a streaming dataset's batches (:mod:`torchrack_runs._stream`), in the order of
    the loop below; ``x`` and ``y`` then only give the split's length and device.

    Each process evaluates its shard of every batch; metric states and loss sums are then summed
    across processes, so every process returns the metrics of the whole split.
    """
    import torch

    acc = pipe.accelerator
    forward = pipe.forward if pipe.forward is not None else pipe.model
    metrics = pipe.metrics if metric_slots is None else metric_slots
    for _, m in metrics:
        m.reset()
    pipe.model.eval()
    total = torch.zeros((), dtype=torch.float64, device=acc.device)
    count = torch.zeros((), dtype=torch.float64, device=acc.device)
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            # Index tensors live where the data does: no host-to-device copy per batch.
            idx = acc.shard(torch.arange(start, min(start + batch_size, len(x)), device=x.device))
            xb, yb = acc.prepare_batch(x[idx], y[idx]) if batches is None else acc.prepare_batch(*next(batches))
            if not xb.is_floating_point():
                xb = xb.float()
            with guard(resolved, registry, "model.backbone", "evaluation"), acc.autocast():
                logits = forward(xb)  # also on an empty shard: a wrapper may run collectives
                if not len(idx):
                    continue
                loss = pipe.loss(logits, yb)
            total.add_(loss.detach(), alpha=len(idx))
            count += len(idx)
            logits = logits.float()
            for slot, m in metrics:
                call_component(slot, "update()", m.update, logits, yb)
    sums = acc.reduce_sum({"total": total, "count": count})
    out: dict[str, Any] = {"eval_loss": float(sums["total"] / sums["count"].clamp(min=1))}
    for slot, m in metrics:
        state = call_component(slot, "state()", m.state)
        reduced = acc.reduce_sum(state)  # a failed collective is the accelerator's, not the metric's
        call_component(slot, "load_state()", m.load_state, reduced)
        out.update(call_component(slot, "compute()", m.compute))
    return out


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s own random streams: ``seed`` itself on rank 0."""
    return seed if rank == 0 else (seed + rank * 0x9E3779B97F4A7C15) % (2**63)


def train_epoch(
    pipe: Pipeline,
    optimizer: Any,
    x: Any,
    y: Any,
    perm: Any,
    *,
    batch_size: int,
    steps: int,
    generator: Any,
    on_step: Any = None,
    on_error: Any = None,
    after_step: Callable[[], None] | None = None,
    accumulate: int = 1,
    check_finite: bool = False,
    epoch: int = 0,
    batches: Iterator[Any] | None = None,
    whole_step: Any = None,
) -> tuple[Any, int]:
    """The hot loop: ``steps`` micro-batches of the global batches of ``perm``, an optimizer step
    after every ``accumulate`` of them.

    Per micro-batch, in order: this process's shard of the global batch -> batch to the device ->
    augmentations (on the device, drawing from ``generator``) -> forward and loss under the
    accelerator's autocast -> backward; then, every ``accumulate`` micro-batches (and after the
    last), the optimizer step (``optimizer`` may be a :class:`Stepper`: clipping, EMA) ->
    ``after_step()`` (a scheduler of interval ``"step"``; on every process, empty shard or not).
    With accumulation each micro-batch's mean loss is weighted by its share of the samples of its
    step, so the gradient is that of the step's whole batch.

    Nothing here waits for the device: the loss sum stays a device tensor, and the loss of a step
    is read one step late, once the next step is queued (``on_step(step, loss)`` for hooks and the
    progress bar, and the non-finite check when ``check_finite``), so reading it costs no
    pipeline stall. Returns ``(loss_sum, seen)``: the sum of per-sample losses (a float64 tensor)
    and the number of samples this process trained on. An exception from anything but an
    augmentation goes through ``on_error(exc)``, which returns the exception to raise.
    ``batches``: a streaming dataset's batches of these micro-batches, in order (``x`` and ``y``
    are then not indexed). ``whole_step``: a :class:`~torchrack_runs._whole_step.WholeStep`
    (``compile_scope = "step"``), which then runs every step instead of this loop.
    """
    import torch

    if whole_step is not None:
        try:
            return train_epoch_whole(whole_step, x, y, perm, batch_size=batch_size, steps=steps,
                                     generator=generator, on_step=on_step, after_step=after_step,
                                     check_finite=check_finite, epoch=epoch, batches=batches)
        except TorchrackError:
            raise
        except Exception as exc:  # noqa: BLE001 - name the component (or the rank) at fault
            if on_error is None:
                raise
            raise on_error(exc) from exc

    acc = pipe.accelerator
    forward = pipe.forward if pipe.forward is not None else pipe.model
    loss_fn, augs = pipe.loss, pipe.augs
    shard, prepare, autocast = acc.shard, acc.prepare_batch, acc.autocast
    zero_grad = optimizer.zero_grad
    loss_sum = torch.zeros((), dtype=torch.float64, device=acc.device)
    seen = 0
    total = len(perm)
    norm_of = (lambda: optimizer.last_norm) if getattr(optimizer, "clip_norm", None) is not None else None
    pending: tuple[int, Any, Any, int] | None = None
    read = on_step is not None or check_finite
    # When every loss is read anyway (one step late), the epoch's sum is kept in Python: one
    # tensor operation less per step, and the same float64 sum in the same order.
    summed = 0.0

    def flush(item: tuple[int, Any, Any, int]) -> None:
        nonlocal summed
        step, loss_d, norm, n = item
        value = float(loss_d)
        summed += value * n
        if check_finite:
            if not math.isfinite(value):
                raise NonFiniteError("loss", epoch + 1, step + 1)
            if norm is not None and not math.isfinite(float(norm)):
                raise NonFiniteError("gradient norm", epoch + 1, step + 1)
        if on_step is not None:
            on_step(step, value)

    # An accelerator without mixed precision gives a nullcontext: then no `with` per step.
    plain_precision = isinstance(autocast(), contextlib.nullcontext)

    def micro(m: int) -> tuple[Any, Any, int]:
        idx = shard(perm[m * batch_size:(m + 1) * batch_size])
        xb, yb = prepare(x[idx], y[idx]) if batches is None else prepare(*next(batches))
        for slot, aug in augs:  # on the batch's device, after the transfer
            try:
                xb, yb = aug(xb, yb, generator=generator)
            except Exception as exc:  # noqa: BLE001
                raise ComponentError(slot, "augmentation", exc) from exc
        if not xb.is_floating_point():
            xb = xb.float()
        if plain_precision:
            loss = loss_fn(forward(xb), yb)
        else:
            with autocast():
                loss = loss_fn(forward(xb), yb)
        return loss, idx, idx.shape[0]

    try:
        if accumulate == 1:
            backward_step = acc.backward_step
            for step in range(steps):
                loss, idx, n = micro(step)
                zero_grad(set_to_none=True)
                backward_step(loss, optimizer)
                if after_step is not None:
                    after_step()
                if n:  # an empty shard (last batch smaller than the world) still joins the collectives
                    seen += n
                    if read:
                        if pending is not None:
                            flush(pending)
                        pending = (step, loss.detach(), norm_of() if norm_of else None, n)
                    else:
                        loss_sum.add_(loss.detach(), alpha=n)
        else:
            backward, opt_step = acc.backward, acc.optimizer_step
            for step in range(-(-steps // accumulate)):
                first, last = step * accumulate, min((step + 1) * accumulate, steps)
                group_n = min(last * batch_size, total) - first * batch_size
                zero_grad(set_to_none=True)
                step_loss = torch.zeros((), dtype=torch.float64, device=acc.device)
                for m in range(first, last):
                    loss, idx, n = micro(m)
                    weight = (min((m + 1) * batch_size, total) - m * batch_size) / group_n
                    backward(loss * weight)
                    if n:
                        loss_d = loss.detach()
                        loss_sum.add_(loss_d, alpha=n)  # per micro-batch: not read one by one
                        step_loss.add_(loss_d, alpha=weight)
                        seen += n
                opt_step(optimizer)
                if after_step is not None:
                    after_step()
                if read:
                    if pending is not None:
                        flush(pending)
                    pending = (step, step_loss, norm_of() if norm_of else None, 0)
        if pending is not None:
            flush(pending)
        if summed:
            loss_sum.add_(summed)
    except TorchrackError:
        raise
    except Exception as exc:  # noqa: BLE001 - name the component (or the rank) at fault
        if on_error is None:
            raise
        raise on_error(exc) from exc
    return loss_sum, seen


def fit(
    resolved: ResolvedConfig,
    registry: Registry,
    pm: pluggy.PluginManager,
    *,
    store: RunStore | None = None,
    resume: dict[str, Any] | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    accelerator: Accelerator | None = None,
    safe_config: dict[str, Any] | None = None,
    pipeline: Pipeline | None = None,
) -> Run:
    """Train and evaluate ``resolved``; return the finished :class:`Run`.

    ``pm`` is a pluggy plugin manager with the trackers registered (the store tracker sets
    ``run.id``); checkpoints go to ``store.run_dir(run.id)``. Only the main process fires hooks and
    writes checkpoints. ``resume`` is the record of an interrupted run to continue from its last
    checkpoint. Raises :class:`TorchrackError` after recording the run as failed.
    """
    import torch
    from torchrack.hookspecs import plugin_manager

    cfg = resolved.config
    run_cfg = cfg["run"]
    data_cfg = cfg["data"]
    seed = int(run_cfg.get("seed", 0))
    epochs = int(run_cfg.get("epochs", 1))
    batch_size = int(data_cfg.get("batch_size", 64))
    eval_batch = int(data_cfg.get("eval_batch_size", batch_size * 4))
    drop_last = bool(data_cfg.get("drop_last", False))

    acc = accelerator if accelerator is not None else build_accelerator(resolved, registry)
    acc.setup()
    main = bool(acc.is_main)
    if not main:
        pm, store, progress = plugin_manager(), None, False  # hooks and records: main only
    say = log or ((lambda msg: print(msg, file=sys.stderr)) if main else (lambda msg: None))

    run = Run(
        name=run_cfg["name"],
        config=cfg,
        config_sha256=resolved.sha256,
        components=record_components(resolved, registry),
        environment={**environment(world_size=int(acc.world_size)), "accelerator": acc.describe()},
        seed=seed,
        resume_of=resume["run_id"] if resume else None,
    )
    run.sensitive_paths = sensitive_paths(resolved)
    run.resolved_config = redact(resolved.full(), paths=run.sensitive_paths)
    run.pretrained_from = list(getattr(resolved, "pretrained_from", []))
    if safe_config is None:  # the runner passes one redacted before any plugin was imported
        safe_config = redact(cfg, paths=run.sensitive_paths)
    run.timings = {"started_at": time.time(), "ended_at": None, "train_seconds": 0.0,
                   "eval_seconds": 0.0}
    status, error = "failed", None
    # What exists now (torch's modules and everything imported before the run) lives through it:
    # moved out of the cyclic collector's generations, the full collections that the rest of the
    # start-up (torch's compiler stack, imported by deterministic mode) and training trigger no
    # longer walk the million objects of torch's import (0.3-0.4 s of the 4.2 s digits demo;
    # torchtitan and Megatron schedule the collector for the same reason). Left alone when
    # something else froze objects; undone when the run ends, so a process that runs many (a
    # sweep, a notebook, tests) collects them again.
    froze = gc.get_freeze_count() == 0
    if froze:
        gc.freeze()
    try:
        call_hook(pm, "torchrack_run_start", run=run, config=cfg)
        if store is not None and run.id is not None:
            run.run_dir = Path(store.run_dir(run.id))
        elif main:  # no store: checkpoints go to a fresh temporary folder
            run.run_dir = Path(tempfile.mkdtemp(prefix="torchrack-run-"))
        if run_cfg.get("deterministic", True):
            torch.use_deterministic_algorithms(True, warn_only=True)

        # 1. Build: data, augmentations, model (weights seeded), loss, metrics, optimizer, scheduler.
        pipe = pipeline if pipeline is not None else build(resolved, registry, seed, acc)
        # A dataset with stream(split) is read batch by batch by DataLoader workers (data.workers),
        # the same batches in the same order; x and y are then the splits' sample indices.
        streamed = open_stream(resolved, pipe.dataset, acc)
        if streamed is not None:
            x_train, x_eval = (torch.arange(size) for size in streamed.sizes())
            y_train, y_eval = x_train, x_eval
        else:
            x_train, y_train = call_component(resolved.slot("data.dataset"), "load(train)",
                                              pipe.dataset.load, data_cfg.get("train_split", "train"))
            x_eval, y_eval = call_component(resolved.slot("data.dataset"), "load(test)",
                                            pipe.dataset.load, data_cfg.get("eval_split", "test"))
            place = getattr(acc, "place_data", None)
            if place is not None:  # e.g. the whole split on the GPU once, batches gathered there
                x_train, y_train = place(x_train, y_train)
                x_eval, y_eval = place(x_eval, y_eval)
        n = len(x_train)
        steps = n // batch_size if drop_last else -(-n // batch_size)
        settings = TrainSettings.from_config(cfg)
        alerts = Alerts.from_config(cfg)
        k = settings.accumulate
        check_accumulation(acc, k)
        opt_steps = -(-steps // k)
        grouped = bool(settings.lr_multipliers) or settings.no_decay_norm_bias
        params = param_groups(pipe.model, settings) if grouped else pipe.model.parameters()
        optimizer = build_optimizer(resolved, registry, params)
        apply_multipliers(optimizer)
        schedule = build_scheduler(resolved, registry, optimizer, epochs=epochs,
                                   steps_per_epoch=opt_steps)
        after_step = schedule.after_step if schedule.interval == "step" else None
        ema = EMA(pipe.model, settings.ema_decay) if settings.ema_decay is not None else None
        stepper: Any = (Stepper(optimizer, settings, ema)
                        if ema is not None or settings.clip_grad_norm or settings.clip_grad_value
                        else optimizer)
        freezer = Freezer(pipe.model, settings)
        early = settings.early_stopping
        stopper = (Monitor(early["monitor"], early["mode"], float(early["min_delta"]))
                   if early is not None else None)
        best_cfg = settings.checkpoints
        best = (BestCheckpoints(best_cfg["monitor"], best_cfg["mode"], int(best_cfg["keep_best"]))
                if best_cfg is not None else None)
        strategies: dict[str, Any] = {k_: v for k_, v in
                                      (("ema", ema), ("early_stopping", stopper), ("checkpoints", best))
                                      if v is not None}
        start_epoch = 0
        if resume:
            start_epoch = restore(resume, pipe, optimizer, schedule.scheduler, strategies)
            say(f"resuming run {resume['run_id']} at epoch {start_epoch + 1}/{epochs}")
            if best is not None:
                run.checkpoints = best.records()
        with guard(resolved, registry, "model.backbone", "preparing the model"):
            pipe.forward = acc.prepare_model(pipe.model)
        whole = None
        if getattr(acc, "compile_scope", "model") == "step":
            check_whole_step(acc, stepper if stepper is not optimizer else None, k)
            # TORCHRACK_COMPILE_BACKEND: another torch.compile backend (tests: "aot_eager")
            whole = WholeStep(pipe, optimizer, mode=getattr(acc, "compile_mode", None), log=say,
                              backend=os.environ.get("TORCHRACK_COMPILE_BACKEND") or None)
            say("compile_scope = 'step': each training step is compiled as one graph")

        # 2. The loop.
        bar = _Progress(progress)
        metrics: dict[str, Any] = {}
        has_step_hooks = bool(pm.hook.torchrack_train_step_end.get_hookimpls())
        rank = int(acc.rank)

        def training_error(exc: Exception) -> TorchrackError:
            why = explain_failure(acc, exc)
            if why is not None:
                return DistributedError(f"training failed in a collective: {why}")
            return ComponentError(blame(exc, resolved, registry, "model.backbone"), "training", exc)

        def evaluate_now() -> dict[str, Any]:
            batches = streamed.eval_batches(eval_batch, acc.shard) if streamed is not None else None
            if ema is None:
                return evaluate(pipe, resolved, registry, x_eval, y_eval, eval_batch, batches=batches)
            with ema.swapped():  # evaluated with the EMA weights
                return evaluate(pipe, resolved, registry, x_eval, y_eval, eval_batch, batches=batches)

        per_step = batch_size * k  # samples per optimizer step (all ranks), for the rate
        for epoch in range(start_epoch, epochs):
            call_hook(pm, "torchrack_epoch_start", run=run, epoch=epoch)
            t0 = time.perf_counter()
            bar.start_epoch()
            # Every random draw of this epoch follows from (seed, epoch): resumable, repeatable.
            # The order is the same on every rank (each takes its shard of every global batch);
            # the global RNG and the augmentations draw from a stream of their own per rank.
            es = epoch_seed(seed, epoch)
            rs = rank_seed(es, rank)
            torch.manual_seed(rs)
            order = torch.Generator().manual_seed(es)
            aug_gen = torch.Generator(device=acc.device).manual_seed(rs + 1)
            perm = torch.randperm(n, generator=order)
            if perm.device != x_train.device:
                perm = perm.to(x_train.device)
            pipe.model.train()
            if freezer.active:
                freezer.start_epoch(epoch)
            # The epoch's first step's base lr (before a role's [train] lr multiplier).
            group0 = optimizer.param_groups[0]
            lr = float(group0["lr"]) / float(group0.get("lr_multiplier", 1.0) or 1.0)
            on_step = None
            if has_step_hooks or bar.enabled:
                def on_step(step: int, value: float, epoch: int = epoch) -> None:
                    if has_step_hooks:
                        call_hook(pm, "torchrack_train_step_end", run=run, epoch=epoch, step=step,
                                  loss=value)
                    bar.update(epoch, epochs, step + 1, opt_steps, value,
                               samples=min((step + 1) * per_step, n))
            batches = (streamed.train_batches(perm, batch_size, steps, acc.shard, es)
                       if streamed is not None else None)
            try:
                loss_sum, seen = train_epoch(pipe, stepper, x_train, y_train, perm,
                                             batch_size=batch_size, steps=steps, generator=aug_gen,
                                             on_step=on_step, on_error=training_error,
                                             after_step=after_step, accumulate=k,
                                             check_finite=settings.stop_on_non_finite or alerts.non_finite is True, epoch=epoch,
                                             batches=batches, whole_step=whole)
            except NonFiniteError as exc:
                run.stopped = {"epoch": exc.epoch, "step": exc.step, "reason": str(exc),
                               "by": "non_finite"}
                if alerts.non_finite is not False:
                    call_hook(pm, "torchrack_alert", run=run,
                              alert=non_finite_alert(exc.what, exc.epoch, exc.step, str(exc)))
                raise
            sums = acc.reduce_sum({"loss": loss_sum,
                                   "seen": torch.tensor(float(seen), dtype=torch.float64, device=acc.device)})
            train_seconds = time.perf_counter() - t0
            bar.end_epoch(train_seconds)
            run.timings["train_seconds"] += train_seconds

            # 3. Evaluate on the held-out split, then checkpoint (main process only).
            t1 = time.perf_counter()
            metrics = evaluate_now()
            run.timings["eval_seconds"] += time.perf_counter() - t1
            epoch_metrics = {"train_loss": float(sums["loss"] / sums["seen"].clamp(min=1)),
                             "lr": lr, **metrics}
            schedule.after_epoch(epoch_metrics)  # the same on every process: metrics are reduced
            call_hook(pm, "torchrack_epoch_end", run=run, epoch=epoch, metrics=epoch_metrics)
            rate = float(sums["seen"]) / max(train_seconds, 1e-9)
            say(f"epoch {epoch + 1}/{epochs}: " + ", ".join(
                f"{k_} {v:.4f}" for k_, v in epoch_metrics.items() if isinstance(v, float))
                + f" ({train_seconds:.1f}s, {rate:,.0f} samples/s"
                + (f", ETA {_clock(bar.run_eta(epochs - epoch - 1))})" if epoch + 1 < epochs else ")"))

            # [alerts] on the epoch's (reduced) metrics: the same decision on every process.
            alert = alerts.check_epoch(epoch + 1, epoch_metrics)
            if alert is not None:
                run.stopped = {"epoch": epoch + 1, "step": None, "reason": alert["message"],
                               "by": "alert"}
                call_hook(pm, "torchrack_alert", run=run, alert=alert)
                raise AlertError(alert)

            # Early stopping and the best-k checkpoints, on the epoch's (reduced) metrics.
            stop: tuple[str, str] | None = None
            if stopper is not None:
                value = stopper.value(epoch_metrics, "early_stopping")
                if not stopper.update(value, epoch + 1) and stopper.wait > int(early["patience"]):  # type: ignore[index]
                    stop = (f"early stopping: {stopper.monitor} did not improve on "
                            f"{stopper.best:.6g} (epoch {stopper.best_epoch}) by more than "
                            f"{stopper.min_delta:g} for {stopper.wait} epochs "
                            f"(patience {early['patience']})", "early_stopping")  # type: ignore[index]
            if run._stop_request is not None and stop is None:
                stop = run._stop_request
            if int(acc.world_size) > 1:  # hooks run on the main process only: every rank stops
                flag = acc.reduce_sum({"stop": torch.tensor(float(stop is not None),
                                                            dtype=torch.float64, device=acc.device)})
                if float(flag["stop"]) > 0 and stop is None:
                    stop = ("the main process stopped the run", "hook")
            keep_path: str | None = None
            drop: list[str] = []
            if best is not None:
                value = Monitor(best.monitor, best.mode).value(epoch_metrics, "checkpoints")
                if main and run.run_dir is not None:
                    keep_path, drop = best.offer(epoch + 1, value,
                                                 lambda e, d=run.run_dir: d / f"epoch-{e}.pt")
            if main and run.run_dir is not None:
                ckpt = run.run_dir / "checkpoint.pt"
                state = {
                    "format": 1, "epoch": epoch, "config_sha256": run.config_sha256,
                    "config": safe_config,  # no secrets on disk
                    "model": pipe.model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": schedule.state_dict(),
                }
                if strategies:
                    state["strategies"] = {name: obj.state_dict() for name, obj in strategies.items()}
                atomic_save(state, ckpt)
                if keep_path is not None:
                    atomic_save(state, Path(keep_path))
                for old in drop:
                    Path(old).unlink(missing_ok=True)
                if best is not None:
                    run.checkpoints = best.records()
                run.checkpoint = str(ckpt)
                call_hook(pm, "torchrack_checkpoint_saved", run=run, path=str(ckpt), epoch=epoch)
            acc.barrier()
            if stop is not None and epoch + 1 < epochs:  # on the last epoch: nothing was cut short
                run.stopped = {"epoch": epoch + 1, "step": None, "reason": stop[0], "by": stop[1]}
                say(f"stopped after epoch {epoch + 1}/{epochs}: {stop[0]}")
                break

        if not metrics:  # resumed after the last epoch: evaluate the restored model
            metrics = evaluate_now()
        run.final_metrics = dict(metrics)
        call_hook(pm, "torchrack_evaluation_end", run=run, split=data_cfg.get("eval_split", "test"),
                  metrics=run.final_metrics)
        status = "completed"
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user (KeyboardInterrupt)"
        raise
    except TorchrackError as exc:
        error = str(exc)
        raise
    except Exception as exc:  # noqa: BLE001 - record, then report without a traceback
        error = f"{type(exc).__name__}: {exc}"
        why = explain_failure(acc, exc)
        if why is not None:
            error = f"a collective failed: {why}"
        raise TorchrackError(f"run failed: {error}") from exc
    finally:
        if froze:
            gc.unfreeze()
        run.timings["ended_at"] = time.time()
        try:
            call_hook(pm, "torchrack_run_end", run=run, status=status, error=error)
        finally:
            acc.teardown()
    if store is not None and run.id is not None:
        call_hook(pm, "torchrack_run_record_finalized", run=run, record=store.get(run.id))
    return run


