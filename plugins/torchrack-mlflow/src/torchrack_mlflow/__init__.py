"""torchrack-mlflow: a tracker plugin that mirrors torchrack runs into an MLflow tracking store.

Name it in an experiment config, ``trackers = ["mlflow"]`` (or with params:
``trackers = [{name = "mlflow", params = {tracking_uri = "http://127.0.0.1:5000"}}]``); the
``torchrack.hooks`` entry point ``mlflow`` is :class:`MlflowTracker`, built once per run with
the params. Importing this package imports neither mlflow nor torch: mlflow is imported when a
run first logs. See docs/tracking.md.
"""

from __future__ import annotations

from torchrack_mlflow._tracker import DEFAULT_EXPERIMENT, MlflowTracker, MlflowTrackerError

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_EXPERIMENT",
    "MlflowTracker",
    "MlflowTrackerError",
    "__version__",
]
