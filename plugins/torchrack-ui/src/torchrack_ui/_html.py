"""HTML building: every value is escaped unless it is already :class:`Markup`.

Pages are built from :func:`h` calls, never by pasting strings: ``h("td", run_name)`` escapes the
name, ``h("a", text, href=url)`` escapes the text and the attribute. Run names, config strings,
error messages and plugin summaries are hostile input (a ``<script>`` in a run name must stay
text), so the only way to put raw HTML on a page is to hold a :class:`Markup`, which only this
module and the page templates create.

>>> str(h("td", "<script>", class_="name"))
'<td class="name">&lt;script&gt;</td>'
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

__all__ = ["Markup", "h", "join", "json_script", "page", "text", "url"]

#: Elements written without a closing tag.
VOID = frozenset({"br", "hr", "img", "input", "link", "meta", "col"})


class Markup(str):
    """A string of HTML that is safe to write as it is (built by :func:`h` or :func:`join`)."""

    __slots__ = ()


def text(value: Any) -> Markup:
    """``value`` as escaped HTML text; Markup passes unchanged; None is empty."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    return Markup(html.escape(str(value), quote=True))


def join(parts: Iterable[Any], sep: str = "") -> Markup:
    """The parts, each escaped unless Markup, joined by ``sep`` (itself escaped)."""
    return Markup(text(sep).join(text(p) for p in parts))


def _attr_name(name: str) -> str:
    # class_ -> class, data_run_id -> data-run-id, aria_label -> aria-label
    return name.rstrip("_").replace("_", "-")


def h(tag: str, *children: Any, **attrs: Any) -> Markup:
    """``<tag attrs>children</tag>``, children and attribute values escaped.

    An attribute given True is written bare (``checked``); False or None leaves it out. A child
    that is a list or tuple is flattened; None children are skipped.
    """
    parts = [f"<{tag}"]
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        if value is True:
            parts.append(f" {_attr_name(name)}")
        else:
            parts.append(f' {_attr_name(name)}="{html.escape(str(value), quote=True)}"')
    parts.append(">")
    if tag in VOID:
        return Markup("".join(parts))
    body: list[str] = []
    for child in children:
        if isinstance(child, (list, tuple)):
            body.extend(text(c) for c in child if c is not None)
        elif child is not None:
            body.append(text(child))
    return Markup("".join(parts) + "".join(body) + f"</{tag}>")


def url(path: str, *segments: str, query: Mapping[str, Any] | None = None) -> str:
    """``path`` with URL-quoted ``segments`` appended and a query string from ``query`` (None
    values left out): ``url("/runs", "3")`` is ``/runs/3``."""
    out = path.rstrip("/") + "".join("/" + quote(str(s), safe="") for s in segments) if segments else path
    if query:
        kept = {k: v for k, v in query.items() if v not in (None, "")}
        if kept:
            out += "?" + urlencode(kept)
    return out


def json_script(element_id: str, data: Any) -> Markup:
    """A ``<script type="application/json">`` data block that no value can break out of:
    ``<``, ``>`` and ``&`` are written as JSON escapes, so ``</script>`` in a run name stays data.
    The dashboard's JavaScript reads it with ``JSON.parse``; browsers never execute it."""
    body = (json.dumps(strict_json(data), allow_nan=False, separators=(",", ":"), default=str)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return Markup(f'<script type="application/json" id="{html.escape(element_id)}">{body}</script>')


def strict_json(obj: Any) -> Any:
    """``obj`` with NaN and the infinities as None (JSON has no number for them)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def page(title: str, body: Any, *, store: str, active: str = "", version: str = "") -> Markup:
    """A whole HTML document: the navigation bar, ``body`` and the dashboard's CSS and JS."""
    nav = h("nav", h("a", "torchrack", href="/", class_="brand"),
            h("a", "Runs", href="/", class_="active" if active == "runs" else None),
            h("a", "Sweeps", href="/sweeps", class_="active" if active == "sweeps" else None),
            h("a", "Plugins", href="/plugins", class_="active" if active == "plugins" else None),
            h("span", h("span", "read-only", class_="badge ro"), " ", h("code", store),
              class_="store", title="the run store this dashboard reads"))
    footer = h("footer", f"torchrack-ui {version}".strip(), " · ",
               h("a", "JSON API", href="/api/"), " · reads the store, never writes it")
    return Markup(
        "<!DOCTYPE html>\n"
        + h("html",
            h("head", h("meta", charset="utf-8"),
              h("meta", name="viewport", content="width=device-width, initial-scale=1"),
              h("title", f"{title} · torchrack"),
              h("link", rel="stylesheet", href="/static/dashboard.css"),
              h("script", src="/static/dashboard.js", defer=True)),
            h("body", nav, h("main", body), footer),
            lang="en")
        + "\n"
    )
