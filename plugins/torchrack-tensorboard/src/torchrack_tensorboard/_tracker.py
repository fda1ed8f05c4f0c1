"""The TensorBoard tracker: a torchrack run's curves as TensorBoard event files.

Written with ``torch.utils.tensorboard.SummaryWriter`` (PyTorch's writer, which needs the
``tensorboard`` package and nothing else: no TensorFlow). Each run writes into a folder of its
own, ``<log_dir>/<run id>-<run name>``, so that ``tensorboard --logdir <log_dir>`` shows every run
side by side. Scalars, all at step = the epoch number (1..N):

- every numeric epoch metric under its own name (``accuracy``, ``train_loss``, ``lr``...);
- the final evaluation as ``final/<metric>``;
- with ``log_steps``, each optimizer step's loss as ``step/loss`` at the global step number;

plus, as text, the run's redacted config and its components with versions (``torchrack/...``).
The default ``log_dir`` is ``tensorboard/`` beside the run store (``.torchrack/tensorboard``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torchrack import TorchrackError, hookimpl

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class TensorboardTrackerError(TorchrackError):
    """The TensorBoard tracker cannot write its event files."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def scalars(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of ``metrics`` by tag; tables flattened (``per_class/cat``), lists
    (a confusion matrix) and non-finite values left out."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            out.update(scalars(value, f"{prefix}{key}/"))
        elif (number := _number(value)) is not None:
            out[f"{prefix}{key}"] = number
    return out


def safe_config(run: Any) -> dict[str, Any] | None:
    """The run's resolved config with its secrets redacted, or None when it cannot be redacted
    (the trainer's ``run.resolved_config`` is redacted already; it is redacted again with
    torchrack-runs' rules, and ``run.config`` is used only through them)."""
    resolved = getattr(run, "resolved_config", None)
    config = resolved if isinstance(resolved, dict) else getattr(run, "config", None)
    if not isinstance(config, dict):
        return None
    try:
        from torchrack_runs import redact
    except ImportError:
        return config if config is resolved else None
    return dict(redact(config, paths=list(getattr(run, "sensitive_paths", None) or ())))


def run_folder_name(run: Any) -> str:
    """``<run id>-<run name>`` with anything but letters, digits, ``._-`` as ``_``."""
    rid = getattr(run, "id", None)
    name = _UNSAFE.sub("_", str(getattr(run, "name", None) or "run")).strip("_.") or "run"
    return f"{rid}-{name}"[:120] if rid is not None else name[:120]


class TensorboardTracker:
    """A ``torchrack.hooks`` tracker writing each run's scalar curves as TensorBoard events.

    ``trackers = ["tensorboard"]`` (or ``[{name = "tensorboard", params = {...}}]``) builds one
    per run, with these params (all optional):

    ``log_dir``
        the folder of the runs' event folders. Default: ``tensorboard/`` beside the run store.
        A relative path is relative to the current folder.
    ``log_steps``
        also write each optimizer step's training loss (``step/loss``). Default: false.
    ``flush_secs``
        how often (seconds, 1 or more) pending events are written out, for a TensorBoard that
        watches a live run. Default: 10.
    """

    def __init__(self, log_dir: str | None = None, log_steps: bool = False, flush_secs: int = 10) -> None:
        if log_dir is not None and (not isinstance(log_dir, str) or not log_dir.strip()):
            raise ValueError(f"log_dir: expected a folder path, found {log_dir!r}")
        if not isinstance(log_steps, bool):
            raise ValueError(f"log_steps: expected true or false, found {log_steps!r}")
        if isinstance(flush_secs, bool) or not isinstance(flush_secs, int) or flush_secs < 1:
            raise ValueError(f"flush_secs: expected a whole number of seconds, 1 or more, found {flush_secs!r}")
        self.log_dir = log_dir
        self.log_steps = log_steps
        self.flush_secs = flush_secs
        #: The folder this run's event files are in, once it is open.
        self.folder: Path | None = None
        self._writer: Any = None
        self._broken: str | None = None
        self._last_step = 0
        self._global_step = 0

    def resolve_folder(self, run: Any) -> Path | None:
        """Where ``run``'s events go; None while that depends on a run folder not known yet."""
        if self.log_dir is not None:
            root = Path(self.log_dir).expanduser()
        else:
            run_dir = getattr(run, "run_dir", None)
            if run_dir is None:
                return None
            path = Path(run_dir)
            # <store folder>/runs/<id>: beside the store; a run outside any store: ./.torchrack
            store = path.parent.parent if path.parent.name == "runs" else Path(".torchrack")
            root = store / "tensorboard"
        return (root / run_folder_name(run)).resolve()

    def _open(self, run: Any) -> bool:
        if self._writer is not None:
            return True
        if self._broken is not None:
            return False
        folder = self.resolve_folder(run)
        if folder is None:
            return False
        try:
            from torch.utils.tensorboard import SummaryWriter

            folder.mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(log_dir=str(folder), flush_secs=self.flush_secs)
        except Exception as exc:
            self._broken = f"{type(exc).__name__}: {exc}"
            raise TensorboardTrackerError(
                f"cannot write TensorBoard events of run {getattr(run, 'id', None)} to {folder}: "
                f"{self._broken}; the run goes on without TensorBoard"
            ) from exc
        self.folder = folder
        self._describe(run)
        return True

    def _describe(self, run: Any) -> None:
        """The config and the components, as text (TensorBoard renders markdown)."""
        config = safe_config(run)
        if config is not None:
            text = json.dumps(config, indent=2, sort_keys=True, default=str)
            self._writer.add_text("torchrack/config", "    " + text.replace("\n", "\n    "), 0)
        rows = ["| role | name | version | distribution |", "|---|---|---|---|"]
        for comp in getattr(run, "components", None) or []:
            rows.append("| {} | {} | {} | {} {} |".format(*(str(comp.get(k, "") or "").replace("|", "/") for k in (
                "role", "name", "version", "distribution", "distribution_version"))))
        self._writer.add_text("torchrack/components", "\n".join(rows), 0)

    # -- hooks ---------------------------------------------------------------------------------------

    @hookimpl
    def torchrack_run_start(self, run: Any) -> None:
        """Open the run's event folder now when ``log_dir`` is set (else at the next hook, when
        the run's folder beside the store is known)."""
        self._writer, self._broken, self.folder = None, None, None
        self._last_step = self._global_step = 0
        if self.log_dir is not None:
            self._open(run)

    @hookimpl
    def torchrack_epoch_start(self, run: Any) -> None:
        """Open the run's event folder, if not yet open."""
        self._open(run)

    @hookimpl
    def torchrack_train_step_end(self, run: Any, loss: float) -> None:
        """With ``log_steps``: the step's loss, at the run's global step number."""
        if self.log_steps and self._open(run):
            self._global_step += 1
            value = _number(loss)
            if value is not None:
                self._writer.add_scalar("step/loss", value, self._global_step)

    @hookimpl
    def torchrack_epoch_end(self, run: Any, epoch: int, metrics: dict[str, Any]) -> None:
        """Every numeric metric of the epoch at step ``epoch + 1``."""
        if self._open(run):
            self._last_step = int(epoch) + 1
            for tag, value in scalars(metrics).items():
                self._writer.add_scalar(tag, value, self._last_step)

    @hookimpl
    def torchrack_evaluation_end(self, run: Any, metrics: dict[str, Any]) -> None:
        """The final evaluation as ``final/<metric>``, at the last epoch's step."""
        if self._open(run):
            for tag, value in scalars(metrics, "final/").items():
                self._writer.add_scalar(tag, value, self._last_step)

    @hookimpl
    def torchrack_run_end(self, run: Any, status: str, error: str | None) -> None:
        """Write out and close the event file."""
        if self._writer is None:
            return
        try:
            self._writer.add_text("torchrack/status", str(status), self._last_step)
        finally:
            self._writer.close()
            self._writer = None
