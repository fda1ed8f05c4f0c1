"""torchrack-tensorboard: a tracker plugin that writes torchrack runs' curves as TensorBoard events.

Name it in an experiment config, ``trackers = ["tensorboard"]`` (or with params:
``trackers = [{name = "tensorboard", params = {log_dir = "tb"}}]``); the ``torchrack.hooks``
entry point ``tensorboard`` is :class:`TensorboardTracker`, built once per run with the params.
Importing this package imports neither torch nor tensorboard. See docs/tracking.md.
"""

from __future__ import annotations

from torchrack_tensorboard._tracker import TensorboardTracker, TensorboardTrackerError

__version__ = "0.1.0"

__all__ = [
    "TensorboardTracker",
    "TensorboardTrackerError",
    "__version__",
]
