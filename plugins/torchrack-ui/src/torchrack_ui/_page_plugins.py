"""The plugin catalogue page (``/plugins``): every installed distribution and component.

Built from :func:`torchrack_ui._catalogue.catalogue` (static metadata and manifests; nothing is
imported). Summaries, schemas and reasons come from plugin authors: all of it is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torchrack_ui._format import ABSENT, Context, badge, table
from torchrack_ui._html import Markup, h, page, url

__all__ = ["plugins_page"]


def _verdict(verdict: str) -> Markup:
    kind = {"ok": "ok", "denied": "warn"}.get(verdict, "bad")
    return badge(verdict, kind, title="the distribution's verdict (torchrack check)")


def _anchor(comp: Mapping[str, Any]) -> str:
    return f"{comp['kind']}-{comp['qualname']}".replace(":", "-")


def _index(plugins: Any) -> Markup:
    """One row per component, linking to its card: the catalogue at a glance."""
    rows = []
    pairs = sorted(((p, c) for p in plugins for c in p["components"]),
                   key=lambda pc: (pc[1]["kind"], pc[1]["name"], pc[1]["qualname"]))
    for plugin, comp in pairs:
        flags = [badge("deprecated", "warn")] if comp.get("deprecated") else []
        if comp.get("denied"):
            flags.append(badge("denied", "bad"))
        rows.append((comp["kind"], h("a", comp["name"], href="#" + _anchor(comp)), comp["version"],
                     f"{plugin['name']} {plugin['version']}", _verdict(plugin["verdict"]),
                     h("span", *flags, " " if flags else None, comp["summary"])))
    return table(("kind", "name", "version", "distribution", "verdict", "summary"), rows,
                 class_="catalogue", element_id="catalogue", empty="no components installed")


def _component_card(comp: Mapping[str, Any]) -> Markup:
    flags = []
    if comp.get("deprecated"):
        dep = comp["deprecated"]
        text = f"deprecated since {dep.get('since')}"
        if dep.get("replaced_by"):
            text += f": use {dep['replaced_by']}"
        if dep.get("reason"):
            text += f" ({dep['reason']})"
        flags.append(badge(text, "warn"))
    if comp.get("denied"):
        flags.append(badge(f"denied: {comp['denied']}", "bad"))
    params = table(
        ("param", "type", "default", "constraints", "description"),
        [(h("code", p["name"]), p["type"],
          h("code", p["default"]) if p["default"] is not None else (badge("required", "warn")
                                                                    if p["required"] else ABSENT),
          p["constraints"] or ABSENT,
          h("span", badge("sensitive", "redacted") if p["sensitive"] else None, " ", p["description"]))
         for p in comp["params"]], class_="params", empty="no parameters")
    specs = []
    for label in ("inputs", "outputs"):
        if comp.get(label):
            specs.append(table((label[:-1], "shape", "dtype", "description"),
                               [(h("code", s["name"]), h("code", s["shape"]), s["dtype"], s["description"])
                                for s in comp[label]], class_="specs"))
    anchor = _anchor(comp)
    return h("article",
             h("h3", h("span", comp["kind"], class_="kind"), " ", h("span", comp["name"], class_="cname"),
               " ", h("small", comp["version"]), " ", *flags),
             h("p", comp["summary"], class_="summary"),
             h("p", h("code", comp["qualname"]), " · entry point ", h("code", comp["entry_point"]),
               " · devices ", ", ".join(comp["devices"]) or ABSENT,
               *((" · tags ", ", ".join(comp["tags"])) if comp.get("tags") else ()), class_="meta"),
             params, *specs, class_="component", id=anchor)


def plugins_page(ctx: Context, data: Mapping[str, Any]) -> Markup:
    """The catalogue: one block per distribution (verdict, reasons, warnings), its components."""
    kinds = data["kinds"]
    nav = h("p", h("a", "all kinds", href="/plugins", class_="active" if not data["kind"] else None),
            *((" · ", h("a", k, href=url("/plugins", query={"kind": k}),
                        class_="active" if data["kind"] == k else None)) for k in kinds),
            class_="kinds")
    parts: list[Any] = [
        h("h1", "Plugins ", h("small", f"{data['components']} components in "
                                       f"{len(data['plugins'])} distributions")),
        h("p", f"torchrack {data['torchrack']} · hook API {data['api_version']} · torch "
               f"{data['torch'] or 'not installed'} · read from metadata and manifests; no plugin "
               "is imported", class_="note"),
        nav,
        _index(data["plugins"]),
    ]
    if data.get("problem"):
        parts.append(h("p", badge("error", "bad"), " the installed plugins cannot be read: ",
                       data["problem"], class_="run-error"))
    for plugin in data["plugins"]:
        block: list[Any] = [
            h("h2", h("span", plugin["name"], class_="dist"), " ", h("small", plugin["version"]), " ",
              _verdict(plugin["verdict"])),
            h("p", h("code", plugin["location"]), class_="meta"),
        ]
        block += [h("p", badge("reason", "bad"), " ", r, class_="reason") for r in plugin["reasons"]]
        block += [h("p", badge("warning", "warn"), " ", w, class_="reason") for w in plugin["warnings"]]
        block += [_component_card(c) for c in plugin["components"]]
        if plugin["unregistered"]:
            block.append(table(("kind", "entry point", "value"),
                               [(u["kind"], u["name"], h("code", u["entry_point"]))
                                for u in plugin["unregistered"]], class_="unregistered"))
        for label in ("hooks", "commands"):
            if plugin[label] and not data["kind"]:
                block.append(table((label[:-1], "summary", "entry point"),
                                   [(h("code", e["name"]), e["summary"] or ABSENT, h("code", e["entry_point"]))
                                    for e in plugin[label]], class_=label))
        parts.append(h("section", block, class_="plugin", id=f"dist-{plugin['name']}",
                       data_verdict=plugin["verdict"]))
    if not data["plugins"]:
        parts.append(h("p", "no plugin distribution installed" + (f" with a {data['kind']}"
                                                                  if data["kind"] else ""), class_="empty"))
    return page("Plugins", parts, store=ctx.store, active="plugins", version=ctx.version)
