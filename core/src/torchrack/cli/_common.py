"""Shared steps of the config commands (validate, run, lock, eval)."""

from __future__ import annotations

import argparse
from typing import Any

from torchrack._config import ResolvedConfig, load_and_resolve
from torchrack._errors import TorchrackError
from torchrack._registry import Registry


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="experiment config (.toml or .json)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one value, e.g. --set run.epochs=3 (repeatable; TOML syntax)",
    )


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", help="run store (default: $TORCHRACK_STORE or ./.torchrack/runs.sqlite)")


def resolve(args: argparse.Namespace) -> tuple[Registry, ResolvedConfig]:
    from torchrack._settings import load_settings

    settings = load_settings()
    registry = Registry.discover(settings)
    if settings.strict:
        registry.require_usable()
    return registry, load_and_resolve(args.config, registry, args.overrides)


def plugin_manager(resolved: ResolvedConfig | None, registry: Registry, store: Any) -> Any:
    """A plugin manager with the store tracker and the config's tracker plugins registered."""
    import importlib

    from torchrack.hookspecs import plugin_manager as new_pm

    pm = new_pm()
    if store is not None:
        from torchrack._tracker import StoreTracker

        pm.register(StoreTracker(store), name="torchrack-store")
    for i, ref in enumerate(resolved.config.get("trackers", []) if resolved else []):
        name = ref["name"]
        dist, _, short = name.rpartition(":")
        found = [
            (p, h) for p in registry.plugins if p.verdict == "ok"
            for h in p.hooks if h.name == short and (not dist or p.canonical_name == dist)
        ]
        if len(found) != 1:
            what = "no" if not found else "more than one"
            raise TorchrackError(
                f"/trackers/{i}/name: {what} usable torchrack.hooks entry point named {name!r}"
                + ("" if not found else f" ({', '.join(p.name for p, _ in found)}); use dist:name")
            )
        plugin, ep = found[0]
        module, _, attr = ep.value.partition(":")
        try:
            obj: Any = importlib.import_module(module)
            for part in attr.split(".") if attr else []:
                obj = getattr(obj, part)
        except Exception as exc:  # noqa: BLE001
            raise TorchrackError(
                f"tracker {name!r} from {plugin.name} {plugin.version} failed to import: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        pm.register(obj, name=f"{plugin.canonical_name}:{ep.name}")
    return pm


def open_store(path: str | None) -> Any:
    """The run store at ``path`` (default: ``$TORCHRACK_STORE`` or ./.torchrack/runs.sqlite)."""
    from torchrack._store import RunStore

    return RunStore(path or RunStore.default_path())
