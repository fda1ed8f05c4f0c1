"""The MLflow tracker: a torchrack run, mirrored into an MLflow tracking store.

One torchrack run is one MLflow run, in the experiment named by the ``experiment`` param (default:
the config's ``run.name``). What is logged, and when:

- the first hook that knows the run's folder (``epoch_start``, or ``run_end`` of a run that failed
  before its first epoch) opens the MLflow run: params (the resolved config, redacted and
  flattened: ``model.backbone.params.widths``), tags (run id, name, config hash, seed, and every
  component's name, version and distribution), and the config as the artifact
  ``torchrack/config.json``;
- ``epoch_end``: every numeric metric of the epoch, at step = the epoch number (1..N);
- ``evaluation_end``: the final evaluation's metrics as ``final.<name>``;
- ``run_end``: the latest checkpoint as an artifact (param ``log_checkpoint``), then the run is
  ended FINISHED, FAILED or KILLED (with the error as the tag ``torchrack.error``);
- ``run_record_finalized``: the run record as the artifact ``torchrack/run-record.json``.

The tracking store is the ``tracking_uri`` param, else ``$MLFLOW_TRACKING_URI``, else the SQLite
database ``mlflow.db`` beside the run store (``.torchrack/mlflow.db`` by default), with artifacts
in ``mlartifacts/`` next to it. Nothing is sent anywhere else: MLflow's usage telemetry is off
unless ``MLFLOW_DISABLE_TELEMETRY`` says otherwise.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from torchrack import TorchrackError, hookimpl

#: MLflow's limits on one ``log_batch`` call (params, tags, metrics).
MAX_PARAMS, MAX_TAGS, MAX_METRICS = 100, 100, 1000
#: MLflow's limits on a param value and a tag value (characters).
MAX_PARAM_VALUE, MAX_TAG_VALUE = 6000, 8000
#: The experiment of a run whose config has no name.
DEFAULT_EXPERIMENT = "torchrack"

_STATUS = {"completed": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_\-. :/]")


class MlflowTrackerError(TorchrackError):
    """The MLflow tracker cannot do what it was asked (a bad param, an unusable store)."""


def mlflow_key(text: str) -> str:
    """``text`` as an MLflow param, metric or tag key: ``augment[0].p`` -> ``augment.0.p``, and
    any character MLflow refuses as ``_``."""
    text = re.sub(r"\[(\d+)\]", r".\1", text)
    return _UNSAFE_KEY.sub("_", text)[:250]


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": [{"c": 2}], "w": [32, 64]}}`` -> ``{"a.b.0.c": 2, "a.w": [32, 64]}``: tables
    and lists of tables are flattened, a list of plain values is one value; empty ones are kept."""
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping) and obj:
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(obj, (list, tuple)) and any(isinstance(v, Mapping) for v in obj):
        for i, value in enumerate(obj):
            out.update(flatten(value, f"{prefix}.{i}" if prefix else str(i)))
    else:
        out[prefix] = obj
    return out


def _text(value: Any) -> str:
    """A param or tag value: strings and paths as they are, anything else as JSON."""
    if isinstance(value, (str, Path)):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _number(value: Any) -> float | None:
    """A metric value MLflow can plot (finite int or float, not bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _redact(config: Any, paths: Any) -> Any:
    """``config`` with its secrets redacted by torchrack-runs' own rules (every key or
    ``x-sensitive`` path that marks one), or None without torchrack-runs."""
    try:
        from torchrack_runs import redact
    except ImportError:
        return None
    return redact(config, paths=list(paths or ()))


def safe_config(run: Any) -> dict[str, Any] | None:
    """The run's resolved config with its secrets redacted, or None when it cannot be redacted.

    The trainer hands hooks ``run.resolved_config`` already redacted; it is redacted again (and
    ``run.config`` when there is no resolved config). Without torchrack-runs (which fires the
    hooks, so it is there whenever a run is), only an already redacted config is used.
    """
    resolved = getattr(run, "resolved_config", None)
    config = resolved if isinstance(resolved, dict) else getattr(run, "config", None)
    if not isinstance(config, dict):
        return None
    redacted = _redact(config, getattr(run, "sensitive_paths", None))
    if redacted is None:
        return config if config is resolved else None
    return dict(redacted)


def _secrets(original: Any, redacted: Any) -> set[str]:
    """The strings of ``original`` that ``redacted`` hides (to scrub them from messages)."""
    found: set[str] = set()
    if isinstance(original, Mapping) and isinstance(redacted, Mapping):
        for key, value in original.items():
            other = redacted.get(key)
            if isinstance(other, str) and other == "***" and value != "***":
                found.update(str(v) for v in flatten(value).values()
                             if v is not None and len(str(v)) >= 4)
            else:
                found |= _secrets(value, other)
    elif isinstance(original, (list, tuple)) and isinstance(redacted, (list, tuple)):
        for a, b in zip(original, redacted, strict=False):
            found |= _secrets(a, b)
    return found


def store_folder(run: Any) -> Path | None:
    """The run store's folder, from the run's folder ``<store folder>/runs/<id>``; None while
    the run has no folder yet, or when it is not in a store (a temporary folder)."""
    run_dir = getattr(run, "run_dir", None)
    if run_dir is None:
        return None
    path = Path(run_dir)
    return path.parent.parent if path.parent.name == "runs" else None


class MlflowTracker:
    """A ``torchrack.hooks`` tracker logging each run to an MLflow tracking store.

    The config's ``trackers = ["mlflow"]`` (or ``[{name = "mlflow", params = {...}}]``) builds
    one per run, with these params (all optional):

    ``tracking_uri``
        where to log: ``sqlite:///path/mlflow.db``, ``http://host:5000``, ``databricks``...
        Default: ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<run store folder>/mlflow.db``.
    ``experiment``
        the MLflow experiment (created when missing). Default: ``$MLFLOW_EXPERIMENT_NAME``, else
        the config's ``run.name``.
    ``run_name``
        the MLflow run's name. Default: ``<run.name>-<run id>``.
    ``artifact_location``
        where a newly created experiment keeps artifacts. Default: the tracking server's choice,
        or ``mlartifacts/`` beside a ``sqlite:///`` database.
    ``log_checkpoint``
        also log the run's latest checkpoint as an artifact (``checkpoint/``). Default: false.
    ``tags``
        extra tags for every run, a table of strings.
    """

    def __init__(self, tracking_uri: str | None = None, experiment: str | None = None,
                 run_name: str | None = None, artifact_location: str | None = None,
                 log_checkpoint: bool = False, tags: Mapping[str, str] | None = None) -> None:
        for name, value in (("tracking_uri", tracking_uri), ("experiment", experiment),
                            ("run_name", run_name), ("artifact_location", artifact_location)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{name}: expected a non-empty string, found {value!r}")
        if not isinstance(log_checkpoint, bool):
            raise ValueError(f"log_checkpoint: expected true or false, found {log_checkpoint!r}")
        tags = dict(tags or {})
        bad = [k for k, v in tags.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise ValueError(f"tags: expected a table of strings, found {tags[bad[0]]!r} "
                             f"for {bad[0]!r}")
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.run_name = run_name
        self.artifact_location = artifact_location
        self.log_checkpoint = log_checkpoint
        self.tags = tags
        self._client: Any = None
        self._run_id: str | None = None
        self._broken: str | None = None
        self._secrets: set[str] = set()
        self._last_step = 0

    # -- where, and opening the MLflow run ---------------------------------------------------------

    def resolve_uri(self, run: Any) -> str | None:
        """The tracking URI for ``run``; None while it depends on a folder not known yet."""
        if self.tracking_uri:
            return self.tracking_uri
        env = os.environ.get("MLFLOW_TRACKING_URI")
        if env:
            return env
        folder = store_folder(run)
        if folder is None:
            if getattr(run, "run_dir", None) is None:
                return None
            folder = Path.cwd() / ".torchrack"  # a run outside any store
        return f"sqlite:///{(folder / 'mlflow.db').resolve()}"

    def _artifact_location(self, uri: str) -> str | None:
        if self.artifact_location:
            return self.artifact_location
        if uri.startswith("sqlite:///"):
            return (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").resolve().as_uri()
        return None

    def _open(self, run: Any) -> bool:
        """Open (or, for a resumed run, find again) the MLflow run; False while it cannot be yet,
        or after opening failed once (that failure was reported; it is not retried)."""
        if self._run_id is not None:
            return True
        if self._broken is not None:
            return False
        uri = self.resolve_uri(run)
        if uri is None:
            return False
        try:
            self._start(run, uri)
        except Exception as exc:
            self._broken = f"{type(exc).__name__}: {exc}"
            raise MlflowTrackerError(
                f"cannot log run {getattr(run, 'id', None)} to the MLflow store {uri}: "
                f"{self._scrub(self._broken)}; the run goes on without MLflow"
            ) from exc
        return True

    def _start(self, run: Any, uri: str) -> None:
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # offline: nothing but the store
        if uri.startswith("sqlite:///"):
            Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        name = (self.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME")
                or getattr(run, "name", None) or DEFAULT_EXPERIMENT)
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            experiment_id = client.create_experiment(name, artifact_location=self._artifact_location(uri))
        config = safe_config(run)
        raw = getattr(run, "config", None) or {}
        # What redaction hides, to scrub it from messages; without torchrack-runs, what the
        # (redacted) resolved config hides.
        hidden = _redact(raw, getattr(run, "sensitive_paths", None))
        self._secrets = _secrets(raw, hidden if hidden is not None else getattr(run, "resolved_config", None))
        run_dir = str(getattr(run, "run_dir", "") or "")
        found = None
        if getattr(run, "resume_of", None) and run_dir:
            hits = client.search_runs([experiment_id], max_results=1,
                                      filter_string=f"tags.`torchrack.run_dir` = '{_quoted(run_dir)}'")
            found = hits[0].info.run_id if hits else None
        self._client = client
        if found is not None:
            client.update_run(found, status="RUNNING")
            self._run_id = found
            return
        tags = self._tags(run)
        created = client.create_run(experiment_id, run_name=self.run_name or _default_run_name(run),
                                    tags=dict(tags[:MAX_TAGS]))
        self._run_id = created.info.run_id
        self._log_tags(tags[MAX_TAGS:])
        if config is not None:
            self._log_params(config)
            client.log_dict(self._run_id, config, "torchrack/config.json")

    # -- what is logged ------------------------------------------------------------------------------

    def _tags(self, run: Any) -> list[tuple[str, str]]:
        tags: dict[str, Any] = {
            "torchrack.run_id": getattr(run, "id", None),
            "torchrack.run_name": getattr(run, "name", None),
            "torchrack.config_sha256": getattr(run, "config_sha256", None),
            "torchrack.seed": getattr(run, "seed", None),
            "torchrack.run_dir": getattr(run, "run_dir", None),
            "torchrack.resume_of": getattr(run, "resume_of", None),
        }
        for i, comp in enumerate(getattr(run, "components", None) or []):
            role = mlflow_key(str(comp.get("role") or f"{comp.get('kind', 'component')}.{i}"))
            for fact in ("name", "version", "distribution", "distribution_version"):
                tags[f"torchrack.component.{role}.{fact}"] = comp.get(fact)
        env = getattr(run, "environment", None) or {}
        for fact in ("torchrack", "torch", "python", "platform"):
            tags[f"torchrack.environment.{fact}"] = env.get(fact)
        tags.update(self.tags)
        return [(mlflow_key(k), self._scrub(_text(v))[:MAX_TAG_VALUE])
                for k, v in tags.items() if v is not None]

    def _log_tags(self, tags: list[tuple[str, str]]) -> None:
        from mlflow.entities import RunTag

        for chunk in _chunks(tags, MAX_TAGS):
            self._client.log_batch(self._run_id, tags=[RunTag(k, v) for k, v in chunk])

    def _log_params(self, config: dict[str, Any]) -> None:
        from mlflow.entities import Param

        params = [(mlflow_key(k), _text(v)[:MAX_PARAM_VALUE]) for k, v in flatten(config).items()]
        for chunk in _chunks(params, MAX_PARAMS):
            self._client.log_batch(self._run_id, params=[Param(k, v) for k, v in chunk])

    def _log_metrics(self, metrics: Mapping[str, Any], step: int, prefix: str = "") -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        # Tables of numbers are flattened (``per_class.cat``); lists (a confusion matrix) are not
        # curves, and stay in the run record.
        flat = flatten({k: v for k, v in metrics.items() if not isinstance(v, (list, tuple))})
        values = {mlflow_key(prefix + k): _number(v) for k, v in flat.items()}
        items = [Metric(k, v, now, step) for k, v in values.items() if v is not None]
        for chunk in _chunks(items, MAX_METRICS):
            self._client.log_batch(self._run_id, metrics=chunk)

    def _scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    # -- hooks ---------------------------------------------------------------------------------------

    @hookimpl
    def torchrack_run_start(self, run: Any) -> None:
        """Open the MLflow run now when the tracking store does not depend on the run's folder
        (a ``tracking_uri`` param, ``$MLFLOW_TRACKING_URI``); else at the next hook."""
        self._run_id, self._broken, self._last_step = None, None, 0
        if self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"):
            self._open(run)

    @hookimpl
    def torchrack_epoch_start(self, run: Any) -> None:
        """Open the MLflow run, if not yet open."""
        self._open(run)

    @hookimpl
    def torchrack_epoch_end(self, run: Any, epoch: int, metrics: dict[str, Any]) -> None:
        """Log the epoch's numeric metrics at step ``epoch + 1`` (epochs are 1..N for users)."""
        if self._open(run):
            self._last_step = int(epoch) + 1
            self._log_metrics(metrics, self._last_step)

    @hookimpl
    def torchrack_evaluation_end(self, run: Any, metrics: dict[str, Any]) -> None:
        """Log the final evaluation as ``final.<metric>`` at the last epoch's step."""
        if self._open(run):
            self._log_metrics(metrics, self._last_step, prefix="final.")

    @hookimpl
    def torchrack_run_end(self, run: Any, status: str, error: str | None) -> None:
        """Log the checkpoint (``log_checkpoint``), then end the MLflow run with the status."""
        if not self._open(run):
            return
        try:
            checkpoint = getattr(run, "checkpoint", None)
            if self.log_checkpoint and checkpoint and Path(checkpoint).is_file():
                self._client.log_artifact(self._run_id, str(checkpoint), "checkpoint")
            if error:
                self._log_tags([("torchrack.error", self._scrub(str(error))[:MAX_TAG_VALUE])])
        finally:
            self._client.set_terminated(self._run_id, status=_STATUS.get(status, "FAILED"))

    @hookimpl
    def torchrack_run_record_finalized(self, run: Any, record: dict[str, Any]) -> None:
        """Log the run record (as the run store keeps it: redacted) as an artifact."""
        if self._run_id is not None:
            self._client.log_dict(self._run_id, record, "torchrack/run-record.json")


def _default_run_name(run: Any) -> str:
    name = getattr(run, "name", None) or "run"
    rid = getattr(run, "id", None)
    return f"{name}-{rid}" if rid is not None else str(name)


def _quoted(text: str) -> str:
    """``text`` inside a single-quoted MLflow search-filter string."""
    return text.replace("\\", "\\\\").replace("'", "\\'")
