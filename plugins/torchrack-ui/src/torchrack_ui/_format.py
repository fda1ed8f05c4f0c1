"""Formatting shared by the pages: times, durations, metric values, badges, tables, errors.

Every function returns :class:`~torchrack_ui._html.Markup` built with :func:`~torchrack_ui._html.h`,
so whatever a value holds is escaped. A redacted value (``***``, what the store writes in place of
a secret) is shown as a "redacted" badge, never as the value.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from torchrack_runs import REDACTED

from torchrack_ui._data import is_number
from torchrack_ui._html import Markup, h

__all__ = ["Context", "badge", "error_body", "fmt_duration", "fmt_time", "status_badge", "table",
           "value_cell"]

#: Shown where a run has no value.
ABSENT = "–"


@dataclass(frozen=True)
class Context:
    """What every page needs to know: the store's path, the dashboard's version, the poll period."""

    store: str
    version: str
    refresh_ms: int = 2000


def fmt_time(ts: Any) -> str:
    """Seconds since the epoch as local ``YYYY-MM-DD HH:MM:SS``; ABSENT when unknown."""
    if not is_number(ts):
        return ABSENT
    try:
        return _dt.datetime.fromtimestamp(float(ts)).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return str(ts)


def fmt_duration(seconds: Any) -> str:
    """``12.3s``, ``4m05s``, ``1h02m``; ABSENT when unknown."""
    if not is_number(seconds):
        return ABSENT
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"


def fmt_number(value: Any) -> str:
    """A metric for a table cell: floats to 4 significant digits, others as they are."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def badge(label: str, kind: str = "", title: str | None = None) -> Markup:
    """A small label; ``kind`` picks its colour (a CSS class)."""
    return h("span", label, class_=f"badge {kind}".strip(), title=title)


def status_badge(status: Any, element_id: str | None = None) -> Markup:
    """A run's status as a coloured badge."""
    text = str(status)
    safe = text if text in ("running", "completed", "failed", "interrupted", "unreadable") else "other"
    return h("span", text, class_=f"badge status-{safe}", id=element_id, data_status=text)


def value_cell(value: Any, *, full: bool = False) -> Markup:
    """A value of a config, environment or metrics table: redacted values as a badge, strings as
    they are, numbers shortened (the exact value in the tooltip) unless ``full``, others as JSON."""
    if value == REDACTED:
        return badge("redacted", "redacted", "a secret: the run store keeps only ***")
    if value is None:
        return h("span", "null", class_="null")
    if isinstance(value, str):
        return h("span", value, class_="str")
    if isinstance(value, bool):
        return h("span", "true" if value else "false", class_="bool")
    if isinstance(value, float) and not full:
        return h("span", fmt_number(value), class_="num", title=repr(value))
    if isinstance(value, (int, float)):
        return h("span", repr(value), class_="num")
    text = json.dumps(value, sort_keys=True, default=str)
    if len(text) > 200 and not full:
        return h("span", text[:200] + "…", class_="json", title=text[:2000])
    return h("span", text, class_="json")


def table(headers: Sequence[Any], rows: Iterable[Sequence[Any]], *, class_: str = "",
          element_id: str | None = None, body_id: str | None = None, empty: str = "none") -> Markup:
    """A table with a header row; cells may be Markup; ``empty`` shown when there is no row."""
    body = [h("tr", [h("td", c) for c in row]) for row in rows]
    if not body:
        body = [h("tr", h("td", empty, colspan=str(len(headers)), class_="empty"))]
    return h("table", h("thead", h("tr", [h("th", c) for c in headers])),
             h("tbody", body, id=body_id), class_=class_ or None, id=element_id)


def section(title: str, *content: Any, element_id: str | None = None) -> Markup:
    """A titled section of a page."""
    return h("section", h("h2", title), *content, id=element_id)


def error_body(title: str, message: str, hint: Any = None) -> Markup:
    """The body of an error page: what went wrong, and what to do."""
    return h("div", h("h1", title), h("p", message, class_="message"),
             h("p", hint, class_="hint") if hint else None,
             h("p", h("a", "← all runs", href="/")), class_="error-page")
