"""torchrack-metrics: first-party streaming metrics.

Each metric has ``reset()``, ``update(logits [N, K], targets [N] or [N, K])``, ``state()`` (a dict
of tensors that combine across processes by summing), ``load_state(state)`` and ``compute()``.
"""

from __future__ import annotations

from torchrack_metrics._base import StreamingMetric

__all__ = ["StreamingMetric"]
