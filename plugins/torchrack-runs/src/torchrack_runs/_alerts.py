"""``[alerts]``: conditions that end a run failed at once, with a clear reason, and tell plugins.

```toml
[alerts]
non_finite = true              # a non-finite loss or gradient stops the run and alerts
                               # (unset: as [train] stop_on_non_finite, default true; false: no alert)

[[alerts.metrics]]             # a metric past a threshold at an epoch
metric = "accuracy"
below = 0.5                    # or above = ...
from_epoch = 3                 # checked from this epoch on (1-based; default 1)
```

When one fires, the trainer calls the ``torchrack_alert(run, alert)`` hook (every hooks plugin
that implements it: a chat or e-mail notifier), records the alert in the run's ``stopped``
(``by = "alert"``), and ends the run with status failed and the alert's message as its error.
``alert`` is a plain dict: ``kind`` (``non_finite`` or ``metric``), ``epoch`` (1-based), ``step``
(1-based, non_finite only), ``metric``, ``value``, ``threshold`` (``{"below": x}`` or
``{"above": x}``) and ``message``. docs/tracking.md documents the table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torchrack import TorchrackError


class AlertError(TorchrackError):
    """An ``[alerts]`` condition ended the run; ``alert`` is what the hook was given."""

    def __init__(self, alert: dict[str, Any]) -> None:
        self.alert = alert
        super().__init__(str(alert["message"]))


@dataclass(frozen=True)
class MetricAlert:
    """One ``[[alerts.metrics]]`` entry (``index``: its position, for messages)."""

    index: int
    metric: str
    below: float | None
    above: float | None
    from_epoch: int

    def check(self, epoch: int, metrics: Mapping[str, Any]) -> dict[str, Any] | None:
        """The alert when ``metrics`` of 1-based ``epoch`` pass the threshold, else None."""
        if epoch < self.from_epoch:
            return None
        where = f"[[alerts.metrics]] entry {self.index + 1}"
        value = metrics.get(self.metric)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            known = ", ".join(k for k, v in metrics.items()
                              if isinstance(v, (int, float)) and not isinstance(v, bool))
            raise TorchrackError(
                f"{where} watches {self.metric!r}, which this run does not compute; the metrics "
                f"of an epoch are: {known} (change alerts.metrics[{self.index}].metric)")
        value = float(value)
        if self.below is not None and (value < self.below or math.isnan(value)):
            side, limit, word = "below", self.below, "below"
        elif self.above is not None and (value > self.above or math.isnan(value)):
            side, limit, word = "above", self.above, "above"
        else:
            return None
        return {"kind": "metric", "epoch": epoch, "step": None, "metric": self.metric,
                "value": value, "threshold": {side: limit},
                "message": f"alert: {self.metric} {value:.6g} is {word} {limit:g} at epoch {epoch} "
                           f"({where}); the run stopped there, failed"}


@dataclass(frozen=True)
class Alerts:
    """The ``[alerts]`` table of a config, with its defaults."""

    #: None: not set (a non-finite value stops the run as [train] stop_on_non_finite says, and
    #: fires the alert); True: always stop and alert; False: never alert.
    non_finite: bool | None = None
    metrics: tuple[MetricAlert, ...] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Alerts:
        """Read ``config["alerts"]`` (already checked by the experiment-config schema)."""
        table = config.get("alerts") or {}
        entries = []
        for i, entry in enumerate(table.get("metrics", [])):
            entries.append(MetricAlert(i, str(entry["metric"]),
                                       float(entry["below"]) if "below" in entry else None,
                                       float(entry["above"]) if "above" in entry else None,
                                       int(entry.get("from_epoch", 1))))
        flag = table.get("non_finite")
        return cls(None if flag is None else bool(flag), tuple(entries))

    def check_epoch(self, epoch: int, metrics: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first metric alert that fires for 1-based ``epoch``, else None."""
        for entry in self.metrics:
            alert = entry.check(epoch, metrics)
            if alert is not None:
                return alert
        return None


def non_finite_alert(what: str, epoch: int, step: int, message: str) -> dict[str, Any]:
    """The alert of a non-finite loss (``what`` = "loss") or gradient norm."""
    return {"kind": "non_finite", "epoch": epoch, "step": step, "metric": what, "value": None,
            "threshold": None, "message": f"alert: {message}"}
