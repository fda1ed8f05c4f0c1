"""The one place that imports a plugin's entry point, and the trust rules applied before it does.

Every import of plugin code goes through :func:`load_entry_point`: components
(:meth:`Registry.load`), hook modules (trackers), commands, and the import probe's targets in its
child process. Before importing, :class:`TrustPolicy` says whether the entry point may be imported:

1. its distribution is usable (verdict ``ok``) and neither it nor the entry point (``dist:name``)
   is denied or left out of an allow list;
2. trust follows the module, not only the declaration: the module's top-level package belongs to
   some distribution (its ``RECORD``, or the folder of its manifest for an editable install); when
   that is not the declaring distribution, it must be allowed too;
3. while plugin code runs, a finder first on ``sys.meta_path`` refuses to import any package of a
   denied distribution, so an allowed plugin cannot pull a denied one in (:func:`guard_imports`).

A plugin that calls ``sys.exit()`` or ``os._exit()`` while being imported, or raises any
``BaseException`` but ``KeyboardInterrupt``, gets an :class:`EntryPointImportError` naming what
it did; it never ends the process. In-process code can still undo this (ctypes, a saved
reference to ``os._exit``): see docs/trust.md for the threat model.
"""

from __future__ import annotations

import csv
import importlib
import io
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchrack._errors import TorchrackError
from torchrack.plugins._trust import Settings, canonical_dist

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType

    from torchrack.plugins._discovery import EntryPointFact
    from torchrack.plugins._vetting import PluginInfo


class EntryPointImportError(TorchrackError, ImportError):
    """Importing an entry point failed or was refused; ``description`` holds the error chain."""

    def __init__(self, message: str, description: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.description = description or {"error": message, "chain": [message], "traceback": ""}


class UntrustedImportError(EntryPointImportError):
    """Trust settings forbid importing this module (a denied distribution's package)."""


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """An exception and its chain of causes, as plain data for reports."""
    import traceback

    chain: list[str] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 20:
        chain.append(f"{type(cur).__name__}: {_short(cur)}")
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
    try:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:  # noqa: BLE001 - a hostile __str__ must not hide the failure
        tb = ""
    return {"error": chain[0], "chain": chain, "traceback": tb[-20000:]}


def _short(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - an exception whose __str__ raises
        text = f"<{type(exc).__name__} that cannot be shown>"
    return text if len(text) <= 2000 else text[:2000] + "..."


# -- who owns a package ----------------------------------------------------------------------------

_RECORD_TOPS: dict[str, frozenset[str]] = {}


def record_packages(dist_info: str) -> frozenset[str]:
    """Top-level import names a distribution installed, from ``<dist_info>/RECORD`` (cached)."""
    cached = _RECORD_TOPS.get(dist_info)
    if cached is not None:
        return cached
    tops: set[str] = set()
    try:
        with open(os.path.join(dist_info, "RECORD"), encoding="utf-8", errors="replace") as fh:
            text = fh.read(16 * 1024 * 1024)
        for row in csv.reader(io.StringIO(text)):
            if not row or not row[0]:
                continue
            first = row[0].replace("\\", "/").split("/", 1)
            name = first[0]
            if name in ("", ".", "..") or name.endswith((".dist-info", ".data", ".egg-info", ".pth")):
                continue
            if len(first) == 1:  # a top-level module file: foo.py, foo.cpython-311-x86_64.so
                if not name.endswith((".py", ".so", ".pyd")):
                    continue
                name = name.split(".", 1)[0]
            if name and name != "__pycache__":
                tops.add(name)
    except (OSError, csv.Error):
        pass
    result = frozenset(tops)
    _RECORD_TOPS[dist_info] = result
    return result


def owned_packages(plugin: PluginInfo) -> frozenset[str]:
    """Top-level packages ``plugin`` ships: its RECORD's, plus its manifest's folder (editable)."""
    tops = set(record_packages(plugin.location)) if plugin.location else set()
    if plugin.manifest_path and "!" not in plugin.manifest_path:
        tops.add(Path(plugin.manifest_path).parent.name)
    return frozenset(tops)


_PACKAGES_DISTRIBUTIONS: dict[str, list[str]] | None = None


def _packages_distributions() -> dict[str, list[str]]:
    global _PACKAGES_DISTRIBUTIONS
    if _PACKAGES_DISTRIBUTIONS is None:
        from importlib import metadata

        try:
            _PACKAGES_DISTRIBUTIONS = dict(metadata.packages_distributions())
        except Exception:  # noqa: BLE001 - a broken distribution elsewhere: no answer
            _PACKAGES_DISTRIBUTIONS = {}
    return _PACKAGES_DISTRIBUTIONS


def top_of(value: str) -> str:
    """The top-level package of an entry-point value: ``acme.losses:Focal`` -> ``acme``."""
    return value.partition(":")[0].strip().split(".")[0]


class TrustPolicy:
    """The allow/deny settings applied to imports, for one set of vetted plugins."""

    def __init__(self, settings: Settings, plugins: Sequence[PluginInfo]) -> None:
        self.settings = settings
        self.plugins = list(plugins)
        self._denied: frozenset[str] | None = None

    def owners(self, top: str) -> list[str]:
        """Distributions (canonical names) that ship top-level package ``top``."""
        found = [p.canonical_name for p in self.plugins if top in owned_packages(p)]
        if found:
            return found
        return [canonical_dist(d) for d in _packages_distributions().get(top, [])]

    def refusal(self, plugin: PluginInfo, ep: EntryPointFact) -> str | None:
        """Why ``ep`` of ``plugin`` must not be imported, or None when it may be."""
        from torchrack.plugins._vetting import OK

        if plugin.verdict != OK:
            why = "; ".join(plugin.reasons)
            return f"{plugin.name} {plugin.version} is {plugin.verdict}" + (f" ({why})" if why else "")
        denial = self.settings.denial(plugin.name) or self.settings.denial(plugin.name, ep.name)
        if denial:
            return f"{plugin.canonical_name}:{ep.name} is {denial}"
        module = ep.value.partition(":")[0].strip()
        for denied_module, component in self.denied_modules():
            if module == denied_module or module.startswith(denied_module + "."):
                return (f"entry point {ep.group}:{ep.name} = {ep.value} of {plugin.name} imports "
                        f"module {denied_module!r} of the denied component {component}")
        top = top_of(ep.value)
        owners = self.owners(top)
        if owners and plugin.canonical_name not in owners:
            for owner in owners:
                denied = self.settings.denial(owner)
                if denied:
                    return (f"entry point {ep.group}:{ep.name} = {ep.value} of {plugin.name} "
                            f"imports package {top!r} of distribution {owner}, which is {denied}")
        if top in self.denied_packages() and plugin.canonical_name not in owners:
            return (f"entry point {ep.group}:{ep.name} = {ep.value} of {plugin.name} imports "
                    f"package {top!r} of a denied distribution")
        return None

    def denied_modules(self) -> list[tuple[str, str]]:
        """``(module, dist:name)`` of every component denied by a ``dist:name`` rule: its module
        (and so every entry point inside it) is never imported."""
        out = []
        for p in self.plugins:
            for c in p.components:
                if c.denied and not self.settings.denial(p.name):
                    out.append((c.entry_point.partition(":")[0].strip(), c.qualname))
        return out

    def denied_packages(self) -> frozenset[str]:
        """Top-level packages of every denied distribution, and the modules of denied components
        (never imported by plugin code)."""
        if self._denied is not None:
            return self._denied
        tops: set[str] = set()
        allowed_tops: set[str] = set()
        for p in self.plugins:
            (tops if self.settings.denial(p.name) else allowed_tops).update(owned_packages(p))
        named = {r.dist for r in self.settings.deny if r.component is None}
        known = {p.canonical_name for p in self.plugins}
        for dist in sorted(named - known):
            tops.update(_installed_packages(dist))
        self._denied = frozenset(tops - allowed_tops) | {m for m, _ in self.denied_modules()}
        return self._denied


def _installed_packages(dist: str) -> frozenset[str]:
    from importlib import metadata

    try:
        found = metadata.distribution(dist)
    except (metadata.PackageNotFoundError, ValueError, OSError):
        return frozenset()
    path = getattr(found, "_path", None)
    return record_packages(str(path)) if path is not None else frozenset()


# -- the import guard ------------------------------------------------------------------------------


class _DenyFinder:
    """A meta-path finder that refuses the top-level packages of denied distributions."""

    def __init__(self) -> None:
        self.denied: frozenset[str] = frozenset()

    def find_spec(self, fullname: str, path: Any = None, target: ModuleType | None = None) -> ModuleSpec | None:
        if not self.denied:
            return None
        parts = fullname.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in self.denied:
                raise UntrustedImportError(
                    f"importing {fullname!r} is refused: {name!r} belongs to a denied distribution "
                    "or component (torchrack trust settings; see `torchrack config`)"
                )
        return None


_GUARD = _DenyFinder()


def guard_imports(denied: Iterable[str]) -> None:
    """Refuse, from now on in this process, every import of the packages ``denied``."""
    _GUARD.denied = frozenset(denied)
    if _GUARD not in sys.meta_path:
        sys.meta_path.insert(0, _GUARD)


class _ExitCalled(BaseException):
    def __init__(self, code: Any) -> None:
        super().__init__(code)
        self.code = code


def load_entry_point(value: str, *, who: str) -> Any:
    """Import ``value`` (``module`` or ``module:attr.attr``) and return the object it names.

    Any failure, including ``sys.exit()`` or ``os._exit()`` called while importing, becomes an
    :class:`EntryPointImportError` that names ``who`` (e.g. ``"loss acme:focal from acme 1.0"``)
    and keeps the original as ``__cause__``. Apply :class:`TrustPolicy` first.
    """
    module_name, _, attr = value.partition(":")
    module_name, attr = module_name.strip(), attr.strip()
    if not module_name:
        raise EntryPointImportError(f"{who}: entry point {value!r} names no module")
    saved_exit = os._exit
    posix = sys.modules.get("posix")

    def refuse_exit(code: int) -> None:
        raise _ExitCalled(code)

    os._exit = refuse_exit  # type: ignore[assignment]
    if posix is not None:
        posix._exit = refuse_exit  # type: ignore[attr-defined]
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split(".") if attr else []:
            obj = getattr(obj, part)
        return obj
    except KeyboardInterrupt:
        raise
    except _ExitCalled as exc:
        raise EntryPointImportError(
            f"{who}: importing {value} called os._exit({exc.code!r}); a plugin must not end the "
            "process while it is imported",
            {"error": f"os._exit({exc.code!r}) called during import", "chain": [], "traceback": ""},
        ) from None
    except SystemExit as exc:
        described = describe_exception(exc)
        described["error"] = f"sys.exit({exc.code!r}) called during import"
        raise EntryPointImportError(
            f"{who}: importing {value} called sys.exit({exc.code!r}); a plugin must not end the "
            "process while it is imported",
            described,
        ) from None
    except UntrustedImportError as exc:
        raise UntrustedImportError(f"{who}: {exc}", describe_exception(exc)) from exc
    except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything while imported
        described = describe_exception(exc)
        raise EntryPointImportError(
            f"{who} failed to import ({value}): {described['error']}", described
        ) from exc
    finally:
        os._exit = saved_exit
        if posix is not None:
            posix._exit = saved_exit  # type: ignore[attr-defined]
