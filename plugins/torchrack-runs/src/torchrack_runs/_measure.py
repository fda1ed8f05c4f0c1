"""What a model's forward pass costs: latency, throughput, peak memory, parameters, FLOPs, energy.

:func:`measure_model` gives a run record's ``measurements``; :func:`measure_pipeline` and
:func:`measure_after_run` add where the model came from and record them. At each batch size (``settings.batch_sizes``; the single figures are those of the first), one loop
runs ``warmup_batches`` untimed forward passes, then ``timed_batches`` timed ones on the same batch
(taken from the split's first samples, repeated when the split is smaller; on the device before
timing, so no transfer is timed), in eval mode, without gradients, under the accelerator's
autocast. That one loop gives everything that depends on the batch size:

- latency: each pass timed alone, with ``time.perf_counter`` on the CPU and CUDA events on CUDA
  (the stream synchronised before the loop and after it); p50/p95/p99 interpolate linearly
  between the sorted times;
- throughput: samples of the timed passes over their summed latency;
- peak memory: CUDA ``max_memory_allocated`` over the loop (peak statistics reset first); on the
  CPU the growth of the process's peak resident set (``VmHWM`` of ``/proc/self/status``, reset
  through ``/proc/self/clear_refs``; where that cannot be reset, ``resource.getrusage``'s
  ``ru_maxrss``) over the resident set before the loop;
- energy: the counters read before and after the timed passes: Intel RAPL through Linux powercap
  on the CPU (every package domain ``intel-rapl:N``, wrap-around at ``max_energy_range_uj``), NVML
  (nvidia-ml-py) on CUDA. A counter that cannot be read, or that did not advance, gives
  ``{"unavailable": why}``: never a made-up number.

FLOPs are counted once, at the first batch size, by ``torch.utils.flop_counter.FlopCounterMode``
(a multiply-add counts 2: a Linear of ``in`` x ``out`` is ``2 * in * out`` per sample). Measuring
changes nothing in the model (its training flag is restored, no RNG is drawn from the caller's
streams). docs/evaluation.md says what each figure means and its limits.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torchrack import TorchrackError

#: What can be measured, in the order figures are shown.
MEASURES = ("latency", "memory", "flops", "energy")
DEFAULT_BATCH_SIZES = (1, 32, 256)
DEFAULT_WARMUP_BATCHES = 5
#: The fewest timed batches per batch size (the p99 of fewer says little).
MIN_TIMED_BATCHES = 50
#: Where Linux powercap lives; this variable moves it (tests use a fake tree).
POWERCAP_ENV = "TORCHRACK_POWERCAP_ROOT"
POWERCAP_ROOT = "/sys/class/powercap"


class MeasureError(TorchrackError, ValueError):
    """A measurement setting that cannot be used (an unknown figure, a batch size of 0, ...)."""


@dataclass(frozen=True)
class MeasureSettings:
    """What to measure and how: the figures, batch sizes, untimed and timed batches per size,
    and the powercap folder (None: ``$TORCHRACK_POWERCAP_ROOT`` or ``/sys/class/powercap``)."""

    measures: tuple[str, ...]
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    warmup_batches: int = DEFAULT_WARMUP_BATCHES
    timed_batches: int = MIN_TIMED_BATCHES
    powercap_root: str | None = None

    def __post_init__(self) -> None:
        unknown = [m for m in self.measures if m not in MEASURES]
        if unknown:
            raise MeasureError(f"cannot measure {', '.join(map(repr, unknown))}; choose from "
                               f"{', '.join(MEASURES)} (or all)")
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise MeasureError(f"batch sizes must be whole numbers of 1 or more, found {list(self.batch_sizes)}")
        if self.warmup_batches < 0:
            raise MeasureError(f"warm-up batches must be 0 or more, found {self.warmup_batches}")
        if self.timed_batches < MIN_TIMED_BATCHES:
            raise MeasureError(f"timed batches must be at least {MIN_TIMED_BATCHES} (percentiles of fewer "
                               f"say little), found {self.timed_batches}")


def settings_from_config(config: Mapping[str, Any], **given: Any) -> MeasureSettings:
    """The ``[evaluate]`` table of ``config`` (schema-checked) as settings; ``given`` values that
    are not None win (``measures``, ``batch_sizes``, ``warmup_batches``, ``timed_batches``)."""
    table = config.get("evaluate") or {}
    settings = MeasureSettings(
        tuple(m for m in MEASURES if m in table.get("measure", [])),
        tuple(table.get("batch_sizes", DEFAULT_BATCH_SIZES)),
        int(table.get("warmup_batches", DEFAULT_WARMUP_BATCHES)),
        int(table.get("timed_batches", MIN_TIMED_BATCHES)),
    )
    return replace(settings, **{k: v for k, v in given.items() if v is not None})


# -- figures ---------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, interpolating linearly between the sorted
    values (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def parameters(model: Any) -> dict[str, int]:
    """Parameter count (and trainable ones), their bytes, and the buffers' bytes."""
    params = list(model.parameters())
    return {
        "count": sum(p.numel() for p in params),
        "trainable": sum(p.numel() for p in params if p.requires_grad),
        "bytes": sum(p.numel() * p.element_size() for p in params),
        "buffer_bytes": sum(b.numel() * b.element_size() for b in model.buffers()),
    }


def flops_per_sample(forward: Callable[[Any], Any], batch: Any) -> int:
    """FLOPs of one forward pass of ``batch`` per sample (``FlopCounterMode``, no gradients)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        forward(batch)
    return int(round(counter.get_total_flops() / max(int(batch.shape[0]), 1)))


# -- energy ----------------------------------------------------------------------------------------


class Unavailable(Exception):
    """A figure that cannot be measured here; the message says why (recorded as is)."""


class RaplMeter:
    """Intel RAPL package energy through Linux powercap: ``<root>/intel-rapl:N/energy_uj``.

    Only the top-level (package) domains are summed; their subdomains (``intel-rapl:N:M``: cores,
    uncore, dram) are parts of them. A counter that went down wrapped at its
    ``max_energy_range_uj``. It measures the whole socket, whatever else runs on it.
    """

    method = "Intel RAPL (Linux powercap)"

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        base = Path(root if root is not None else os.environ.get(POWERCAP_ENV) or POWERCAP_ROOT)
        if not base.is_dir():
            raise Unavailable(f"{base} does not exist (no Linux powercap: not Linux, or the intel_rapl "
                              "driver is not loaded)")
        domains = sorted(p for p in base.glob("intel-rapl:*") if p.name.count(":") == 1)
        if not domains:
            raise Unavailable(f"{base} has no intel-rapl:N package domain (no RAPL on this CPU or VM)")
        self.domains = domains
        self.ranges = [self._read(d / "max_energy_range_uj") for d in domains]
        self.names = [self._name(d) for d in domains]

    @staticmethod
    def _read(path: Path) -> int:
        try:
            return int(path.read_text(encoding="ascii").strip())
        except PermissionError:
            raise Unavailable(f"{path} is not readable by this user (since Linux 5.10 only root may "
                              "read RAPL counters: run as root, or grant read access to "
                              "intel-rapl:*/energy_uj)") from None
        except (OSError, ValueError) as exc:
            raise Unavailable(f"{path} cannot be read as a number of microjoules ({exc})") from None

    @staticmethod
    def _name(domain: Path) -> str:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            return domain.joinpath("name").read_text(encoding="utf-8").strip() or domain.name
        return domain.name

    def read(self) -> list[int]:
        """Every package counter now, in microjoules."""
        return [self._read(d / "energy_uj") for d in self.domains]

    def joules(self, before: Sequence[int], after: Sequence[int]) -> float:
        """Energy between two :meth:`read`\\s, counting one wrap-around per domain at most."""
        total = 0
        for b, a, top in zip(before, after, self.ranges, strict=True):
            total += a - b if a >= b else a + top - b
        return total / 1e6

    def describe(self) -> str:
        return f"{self.method}: {', '.join(self.names)}"


class NvmlMeter:
    """A CUDA GPU's total energy counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules;
    Volta and newer) through nvidia-ml-py; the GPU is found by its UUID, else its index."""

    method = "NVML total energy consumption"

    def __init__(self, device: Any) -> None:
        try:
            import pynvml  # type: ignore[import-not-found]
        except ImportError:
            raise Unavailable("nvidia-ml-py is not installed, so NVML cannot be read "
                              "(pip install nvidia-ml-py)") from None
        self._nvml = pynvml
        try:
            pynvml.nvmlInit()
            self.handle = self._handle(device)
            self.read()
        except Unavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - NVMLError and its many subclasses
            raise Unavailable(f"NVML cannot read the energy of {device}: {exc}") from None

    def _handle(self, device: Any) -> Any:
        import torch

        index = device.index if device.index is not None else torch.cuda.current_device()
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        if uuid is not None:
            with contextlib.suppress(Exception):
                return self._nvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
        return self._nvml.nvmlDeviceGetHandleByIndex(index)

    def read(self) -> list[int]:
        return [int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))]

    def joules(self, before: Sequence[int], after: Sequence[int]) -> float:
        return (after[0] - before[0]) / 1e3

    def describe(self) -> str:
        return self.method


def energy_meter(device: Any, powercap_root: str | None = None) -> RaplMeter | NvmlMeter | str:
    """The energy meter of ``device``, or why there is none (a sentence)."""
    try:
        return NvmlMeter(device) if device.type == "cuda" else RaplMeter(powercap_root)
    except Unavailable as exc:
        return str(exc)


# -- memory ----------------------------------------------------------------------------------------


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the process's peak RSS (``echo 5 > /proc/self/clear_refs``, Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


@contextlib.contextmanager
def cpu_peak_memory() -> Iterator[dict[str, Any]]:
    """The growth of the process's peak resident set during the block over the resident set
    before it: ``{"value": bytes, "method": ...}`` or ``{"unavailable": why, "method": ...}``."""
    out: dict[str, Any] = {}
    proc = _status_kib("VmRSS") is not None
    reset = proc and _reset_peak_rss()
    peak: Callable[[], int | None] = (lambda: _status_kib("VmHWM")) if proc else _maxrss
    start, peak_before = (_status_kib("VmRSS") if proc else _maxrss()), peak()
    out["method"] = ("VmHWM - VmRSS (/proc/self/status), the peak reset via /proc/self/clear_refs"
                     if reset else "peak RSS growth (" + ("VmHWM of /proc/self/status" if proc else
                                                          "resource.getrusage ru_maxrss") + "), no reset")
    yield out
    peak_after = peak()
    if start is None or peak_before is None or peak_after is None:
        out["unavailable"] = "neither /proc/self/status nor resource.getrusage gives the peak RSS here"
    elif reset or peak_after > peak_before:  # reset, or the old peak passed: this block's peak
        out["value"] = max(0, peak_after - start) * 1024
    else:
        out["unavailable"] = ("the peak RSS cannot be reset here (/proc/self/clear_refs is not "
                              "writable) and this batch size stayed below the process's earlier peak")


def _maxrss() -> int | None:
    """``ru_maxrss`` in KiB (bytes on macOS), or None without the resource module."""
    try:
        import resource
    except ImportError:
        return None
    value = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return value // 1024 if platform.system() == "Darwin" else value


# -- the loop --------------------------------------------------------------------------------------


def _batch(x: Any, size: int) -> Any:
    import torch

    if len(x) >= size:
        return x[:size]
    return torch.cat([x] * (size // len(x) + 1))[:size]


def _device_name(device: Any) -> str | None:
    import torch

    if device.type == "cuda":
        return str(torch.cuda.get_device_name(device))
    with contextlib.suppress(OSError, UnicodeDecodeError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _time_batches(forward: Callable[[Any], Any], xb: Any, device: Any, settings: MeasureSettings,
                  meter: Any, autocast: Callable[[], Any]) -> tuple[list[float], dict[str, Any]]:
    """Per-batch milliseconds of the timed passes, and the energy of them (``{"joules": J}`` or
    ``{"unavailable": why}``)."""
    import torch

    cuda = device.type == "cuda"
    energy: dict[str, Any] = {}
    with torch.no_grad(), autocast():
        for _ in range(settings.warmup_batches):
            forward(xb)
        if cuda:
            torch.cuda.synchronize(device)
        if not isinstance(meter, str):
            try:
                before = meter.read()
            except Unavailable as exc:
                meter = str(exc)
        times: list[float] = []
        if cuda:
            events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))  # type: ignore[no-untyped-call]
                      for _ in range(settings.timed_batches)]
            for start, end in events:
                start.record()
                forward(xb)
                end.record()
            torch.cuda.synchronize(device)
            times = [float(start.elapsed_time(end)) for start, end in events]
        else:
            for _ in range(settings.timed_batches):
                t0 = time.perf_counter()
                forward(xb)
                times.append((time.perf_counter() - t0) * 1e3)
        if isinstance(meter, str):
            energy["unavailable"] = meter
        else:
            try:
                joules = meter.joules(before, meter.read())
            except Unavailable as exc:
                energy["unavailable"] = str(exc)
            else:
                if joules > 0:
                    energy["joules"] = joules
                else:
                    energy["unavailable"] = (f"the energy counter did not advance in {sum(times):.1f} ms "
                                             "of timed batches; time more batches (--timed-batches)")
    return times, energy


def measure_model(model: Any, x: Any, settings: MeasureSettings, *, device: Any,
                  autocast: Callable[[], Any] | None = None,
                  prepare: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Measure ``model`` (an ``nn.Module`` on ``device``) on batches of the samples ``x``: the
    run record's ``measurements`` fields that do not depend on where the model came from.

    ``prepare`` moves a batch to the device (default ``.to(device)``); ``autocast`` is the
    accelerator's autocast context (default none). Raises :class:`MeasureError` for no samples.
    """
    import torch

    if len(x) == 0:
        raise MeasureError("there are no samples to make batches of: the split is empty")
    autocast = autocast or contextlib.nullcontext
    cuda = device.type == "cuda"
    out: dict[str, Any] = {
        "device": str(device), "device_name": _device_name(device),
        "torch": str(torch.__version__), "threads": None if cuda else int(torch.get_num_threads()),
        "batch_size": settings.batch_sizes[0], "batch_sizes": list(settings.batch_sizes),
        "warmup_batches": settings.warmup_batches, "timed_batches": settings.timed_batches,
        "measured": list(settings.measures), "parameters": parameters(model),
    }
    methods: dict[str, str] = {}
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if cuda else []):
            timed = bool(set(settings.measures) & {"latency", "memory", "energy"})
            rows = _measure_sizes(model, x, settings, device, autocast, prepare, methods) if timed else []
            if "flops" in settings.measures:
                first = _on_device(_batch(x, settings.batch_sizes[0]), device, prepare)
                try:
                    out["flops_per_sample"] = flops_per_sample(model, first)
                    methods["flops"] = "torch.utils.flop_counter.FlopCounterMode, one forward pass"
                except Exception as exc:  # noqa: BLE001 - an op the counter cannot trace
                    out["flops_per_sample"] = {"unavailable": f"FlopCounterMode failed: {type(exc).__name__}: {exc}"}
    finally:
        model.train(was_training)
    first_row = rows[0] if rows else {}
    if "latency" in settings.measures:
        out["latency_ms"] = {**{k: first_row["latency"][k] for k in ("p50", "p95", "p99", "mean")},
                             "by_batch_size": [{"batch_size": r["batch_size"], **r["latency"]} for r in rows]}
        out["throughput_per_s"] = first_row["throughput_per_s"]
    for key in ("peak_memory_bytes", "energy_j_per_1000"):
        if key in first_row:
            out[key] = first_row[key]
    table = [{k: v for k, v in r.items() if k != "latency"} for r in rows]
    if any(len(r) > 1 for r in table):
        out["by_batch_size"] = table
    out["methods"] = methods
    return out


def _on_device(batch: Any, device: Any, prepare: Callable[[Any], Any] | None) -> Any:
    xb = prepare(batch) if prepare is not None else batch.to(device)
    return xb if xb.is_floating_point() else xb.float()


def _measure_sizes(model: Any, x: Any, settings: MeasureSettings, device: Any,
                   autocast: Callable[[], Any], prepare: Callable[[Any], Any] | None,
                   methods: dict[str, str]) -> list[dict[str, Any]]:
    """One warm-up + timed loop per batch size: its latency, throughput, peak memory, energy."""
    import torch

    cuda, want = device.type == "cuda", set(settings.measures)
    meter = energy_meter(device, settings.powercap_root) if "energy" in want else "not asked"
    if "energy" in want:
        methods["energy"] = meter if isinstance(meter, str) else meter.describe()
    if "latency" in want:
        methods["latency"] = "CUDA events, stream synchronised" if cuda else "time.perf_counter per batch"
    rows = []
    for size in settings.batch_sizes:
        xb = _on_device(_batch(x, size), device, prepare)
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            times, energy = _time_batches(model, xb, device, settings, meter, autocast)
            memory = {"value": int(torch.cuda.max_memory_allocated(device)),
                      "method": "torch.cuda.max_memory_allocated, reset per batch size"}
        else:
            with cpu_peak_memory() as memory:
                times, energy = _time_batches(model, xb, device, settings, meter, autocast)
        row: dict[str, Any] = {"batch_size": size, "latency": {
            "p50": percentile(times, 50), "p95": percentile(times, 95), "p99": percentile(times, 99),
            "mean": sum(times) / len(times), "min": min(times), "max": max(times)}}
        if "latency" in want:
            row["throughput_per_s"] = size * len(times) / (sum(times) / 1e3)
        if "memory" in want:
            methods["memory"] = str(memory["method"])
            row["peak_memory_bytes"] = memory["value"] if "value" in memory else {"unavailable": memory["unavailable"]}
        if "energy" in want:
            row["energy_j_per_1000"] = (energy["joules"] / (size * len(times)) * 1000.0
                                        if "joules" in energy else {"unavailable": energy["unavailable"]})
        rows.append(row)
    return rows


# -- recording -------------------------------------------------------------------------------------


def measure_pipeline(pipe: Any, x: Any, settings: MeasureSettings, *, source: str, split: str,
                     epoch: int | None) -> dict[str, Any]:
    """The run record's ``measurements`` of a built pipeline's model on its accelerator's device,
    batches made from the samples ``x`` of ``split`` (weights of epoch ``epoch``, 1..N)."""
    import torch

    acc = pipe.accelerator
    device = torch.device(getattr(acc, "device", None) or next(pipe.model.parameters()).device)

    def prepare(batch: Any) -> Any:  # as evaluation moves a batch (channels_last, non_blocking...)
        return acc.prepare_batch(batch, torch.zeros(len(batch), dtype=torch.int64))[0]

    figures = measure_model(pipe.model, x, settings, device=device, prepare=prepare,
                            autocast=getattr(acc, "autocast", None))
    return {"source": source, "time": time.time(), "split": split, "checkpoint_epoch": epoch, **figures}


def _with_run_threads(accelerator: Any, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``measure()`` under the CPU thread count the run trained with: the trainer's teardown has
    restored torch's default by now, and figures must be measured as the config asked."""
    threads = getattr(accelerator, "threads", None)
    if not isinstance(threads, int) or isinstance(threads, bool):
        return measure()
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return measure()
    finally:
        torch.set_num_threads(previous)


def measure_after_run(resolved: Any, registry: Any, run: Any, store: Any, accelerator: Any,
                      pipeline: Any = None, *, log: Callable[[str], None] | None = None) -> dict[str, Any] | None:
    """After a run's final evaluation, what its config's ``[evaluate] measure`` asks for,
    recorded in its ``measurements`` (None when it asks for nothing). ``pipeline``: the trained
    pipeline, else it is rebuilt from the run's latest checkpoint."""
    settings = settings_from_config(resolved.config)
    if not settings.measures or run.id is None:
        return None
    record = store.get(run.id)
    try:
        pipe = pipeline
        if pipe is None:
            import torch

            from torchrack_runs._build import build
            from torchrack_runs._checkpoint import load_checkpoint

            pipe = build(resolved, registry, int(run.seed), accelerator)
            with torch.no_grad():
                pipe.model.load_state_dict(load_checkpoint(run.checkpoint)["model"])
        split = resolved.config["data"].get("eval_split", "test")
        x, _ = pipe.dataset.load(split)
        measurements = _with_run_threads(accelerator, lambda: measure_pipeline(
            pipe, x, settings, source="run", split=split, epoch=len(record["epochs"]) or None))
        store.update_fields(run.id, {"measurements": measurements})
    except Exception as exc:  # noqa: BLE001 - the run is recorded: say so, whatever failed
        why = str(exc) if isinstance(exc, TorchrackError) else f"{type(exc).__name__}: {exc}"
        raise TorchrackError(
            f"run {run.id} completed and is recorded, but measuring it failed: {why}; measure it "
            f"again with `torchrack eval {run.id} --measure {','.join(settings.measures)}`") from exc
    if "latency_ms" in measurements:
        import sys

        lat = measurements["latency_ms"]
        (log or (lambda msg: print(msg, file=sys.stderr)))(f"measured on {measurements['device']} at batch size {measurements['batch_size']}: latency "
            f"p50 {lat['p50']:.3f} ms, p99 {lat['p99']:.3f} ms, {measurements['throughput_per_s']:.0f} samples/s")
    return dict(measurements)
