"""Calibration of a recorded run: calibrators fitted on held-out logits, ECE and NLL before and after.

``torchrack eval RUN --calibrate temperature[,vector]`` runs the model over the samples once,
then fits each calibrator (kind ``calibrator``, group ``torchrack.calibrators``) on held-out
logits and scores the others, before and after:

- with ``[evaluate] calibration_split`` (or ``--calibration-split``): fitted on all of that
  split, scored on all of the evaluated split;
- otherwise a seeded share ``calibration_fraction`` (default 0.5) of the evaluated split is held
  out to fit on, drawn with the run's seed (the same samples every time), and the rest is scored:
  no sample is both fitted on and scored.

Scores (:func:`scores`): ``ece`` over ``calibration_bins`` equal-width confidence bins
``((m-1)/M, m/M]`` (the first also holds 0), ``(1/n) sum_m |sum_{i in B_m} (1[right_i] - conf_i)|``
with ``conf_i`` the top softmax probability, as the ``ece`` metric of torchrack-metrics; ``nll`` the
mean negative log-likelihood of the true class; ``accuracy``. The fitted parameters are the
calibrator's ``state_dict()``, as numbers (:func:`fitted_params`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torchrack import TorchrackError

DEFAULT_FRACTION = 0.5
DEFAULT_BINS = 15
#: A fitted tensor with more numbers than this is recorded by its shape only.
MAX_RECORDED_NUMBERS = 4096


class CalibrationSettingsError(TorchrackError, ValueError):
    """Calibration settings that cannot be used; the message names the setting."""


@dataclass(frozen=True)
class CalibrationSettings:
    """Which calibrators (registered names, ``dist:name`` too), and where they are fitted."""

    calibrators: tuple[str, ...]
    split: str | None = None
    fraction: float = DEFAULT_FRACTION
    bins: int = DEFAULT_BINS

    def __post_init__(self) -> None:
        if not self.calibrators:
            raise CalibrationSettingsError("--calibrate needs a calibrator name, e.g. --calibrate temperature")
        if not 0.0 < self.fraction < 1.0:
            raise CalibrationSettingsError(f"the calibration fraction must lie strictly between 0 and 1, "
                                           f"found {self.fraction}")
        if self.bins < 1:
            raise CalibrationSettingsError(f"the ECE needs 1 or more bins, found {self.bins}")


def settings_from_config(config: Mapping[str, Any], calibrators: Sequence[str], *,
                         split: str | None = None, fraction: float | None = None,
                         bins: int | None = None) -> CalibrationSettings:
    """``calibrators`` with the ``[evaluate]`` settings of ``config``; given values win."""
    table = config.get("evaluate") or {}
    return CalibrationSettings(
        tuple(calibrators),
        split if split is not None else table.get("calibration_split"),
        float(fraction if fraction is not None else table.get("calibration_fraction", DEFAULT_FRACTION)),
        int(bins if bins is not None else table.get("calibration_bins", DEFAULT_BINS)),
    )


# -- scores ----------------------------------------------------------------------------------------


def ece(logits: Any, targets: Any, bins: int = DEFAULT_BINS) -> float:
    """Expected calibration error of ``softmax(logits)`` against class indices ``targets``."""
    import torch

    probs = logits.double().softmax(dim=1)
    conf, pred = probs.max(dim=1)
    which = (torch.ceil(conf * bins).long() - 1).clamp(0, bins - 1)
    gap = torch.zeros(bins, dtype=torch.float64).index_add_(0, which, (pred == targets).double() - conf)
    return float(gap.abs().sum() / max(len(targets), 1))


def nll(logits: Any, targets: Any) -> float:
    """Mean negative log-likelihood of ``targets`` under ``softmax(logits)``."""
    import torch

    return float(torch.nn.functional.cross_entropy(logits.double(), targets))


def scores(logits: Any, targets: Any, bins: int = DEFAULT_BINS) -> dict[str, float]:
    """``{"ece", "nll", "accuracy"}`` of ``logits`` for class indices ``targets``."""
    return {"ece": ece(logits, targets, bins), "nll": nll(logits, targets),
            "accuracy": float((logits.argmax(dim=1) == targets).double().mean())}


def fitted_params(state: Mapping[str, Any]) -> dict[str, Any]:
    """A ``state_dict()`` as JSON: a number per 0-dim tensor, a nested list of numbers, or
    ``{"shape": [...]}`` for a tensor of more than :data:`MAX_RECORDED_NUMBERS` numbers."""
    import torch

    out: dict[str, Any] = {}
    for key, value in state.items():
        t = torch.as_tensor(value).detach().cpu()
        if t.numel() > MAX_RECORDED_NUMBERS:
            out[str(key)] = {"shape": list(t.shape)}
        else:
            out[str(key)] = t.double().tolist() if t.dim() else float(t)
    return out


# -- fitting ---------------------------------------------------------------------------------------


def logits_of(pipe: Any, x: Any, batch_size: int) -> Any:
    """The model's logits for the samples ``x`` (float32, on the CPU), in eval mode without
    gradients, batches moved and cast as evaluation does them."""
    import torch

    acc, model = pipe.accelerator, pipe.model
    forward = pipe.forward if pipe.forward is not None else model
    was_training = model.training
    model.eval()
    parts = []
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                xb = x[start:start + batch_size]
                xb, _ = acc.prepare_batch(xb, torch.zeros(len(xb), dtype=torch.int64))
                if not xb.is_floating_point():
                    xb = xb.float()
                with acc.autocast():
                    parts.append(forward(xb).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(parts) if parts else torch.zeros(0, 0)


def hard_targets(y: Any) -> Any:
    """Class indices: soft targets ``[N, K]`` by their argmax."""
    return (y.argmax(dim=1) if y.dim() == 2 else y).long().cpu()


def held_out(n: int, fraction: float, seed: int) -> tuple[Any, Any]:
    """(indices fitted on, indices scored) of ``n`` samples: a seeded ``fraction`` held out."""
    import torch

    if n < 2:
        raise CalibrationSettingsError(f"holding out a fraction to fit calibrators on needs 2 or more "
                                       f"samples, found {n}; give a --calibration-split")
    k = min(max(1, round(n * fraction)), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[:k].sort().values, perm[k:].sort().values


def calibrate_pipeline(pipe: Any, resolved: Any, registry: Any, x: Any, y: Any,
                       settings: CalibrationSettings, *, split: str, seed: int, batch_size: int,
                       epoch: int | None) -> dict[str, Any]:
    """The run record's ``calibration``: each calibrator fitted on held-out logits of the model
    of ``pipe`` (built from ``resolved``) and scored on the samples ``(x, y)`` of ``split``."""
    import torch
    from torchrack.contracts import params_with_defaults

    from torchrack_runs._config import Slot
    from torchrack_runs._pipeline import call_component, instantiate

    slots = []
    for i, name in enumerate(settings.calibrators):
        slot = Slot(f"--calibrate[{i}]", f"/--calibrate/{i}", "calibrator", {"name": name})
        try:
            slot.info = registry.resolve("calibrator", name)
        except TorchrackError as exc:
            raise TorchrackError(f"--calibrate {name}: {exc}") from exc
        slot.params = params_with_defaults(slot.info.params_schema, {})
        slots.append(slot)
    logits, targets = logits_of(pipe, x, batch_size), hard_targets(y)
    if settings.split is None:
        fit_idx, score_idx = held_out(len(targets), settings.fraction, seed)
        fit_z, fit_y, z, t = logits[fit_idx], targets[fit_idx], logits[score_idx], targets[score_idx]
        fit_part = {"split": split, "samples": len(fit_idx), "part": "held-out",
                    "fraction": settings.fraction, "seed": seed}
        scored = {"split": split, "samples": len(score_idx), "part": "rest",
                  "fraction": settings.fraction, "seed": seed}
    else:
        if settings.split == split:
            raise CalibrationSettingsError(
                f"the calibration split {split!r} is the split evaluated: fitting and scoring on the same "
                "samples would hide over-fitting; name another split, or none to hold out a fraction")
        fx, fy = call_component(resolved.slot("data.dataset"), f"load({settings.split!r})", pipe.dataset.load, settings.split)
        fit_z, fit_y, z, t = logits_of(pipe, fx, batch_size), hard_targets(fy), logits, targets
        fit_part = {"split": settings.split, "samples": len(fit_y), "part": "all"}
        scored = {"split": split, "samples": len(t), "part": "all"}
    if not len(t) or not len(fit_y):
        raise CalibrationSettingsError(f"no samples to {'score' if not len(t) else 'fit'} calibrators on")
    out: list[dict[str, Any]] = []
    for slot in slots:
        assert slot.info is not None
        calibrator = instantiate(slot, registry)
        call_component(slot, "fit()", calibrator.fit, fit_z.clone(), fit_y.clone())
        calibrated = call_component(slot, "calibrating logits", calibrator, z.clone())
        if not isinstance(calibrated, torch.Tensor) or calibrated.shape != z.shape \
                or not bool(torch.isfinite(calibrated).all()):
            raise TorchrackError(f"calibrator {slot.info.qualname} (--calibrate {slot.ref['name']}) "
                                 f"should return finite logits of shape {list(z.shape)}, found "
                                 f"{getattr(calibrated, 'shape', type(calibrated).__name__)}")
        state = call_component(slot, "state_dict()", calibrator.state_dict)
        out.append({"name": slot.ref["name"], "component": slot.info.qualname,
                    "version": slot.info.version, "distribution_version": slot.info.dist_version,
                    "params": dict(slot.params), "fitted": fitted_params(state),
                    "after": scores(calibrated.detach().float().cpu(), t, settings.bins)})
    return {"source": "eval", "time": time.time(), "checkpoint_epoch": epoch, "fit": fit_part,
            "evaluated": scored, "n_bins": settings.bins, "before": scores(z, t, settings.bins),
            "calibrators": out}
