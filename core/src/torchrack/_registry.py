"""The registry: components by kind, resolved by ``name`` or ``dist:name``, imported on first use.

>>> reg = Registry.discover()                      # reads metadata and manifests, imports nothing
>>> comp = reg.resolve("loss", "focal@>=1,<2")     # still imports nothing
>>> factory = reg.load(comp)                       # imports the plugin module now
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from torchrack._discovery import scan
from torchrack._errors import TorchrackDeprecationWarning, TorchrackError
from torchrack._kinds import KINDS, normalize_kind
from torchrack._settings import Settings, canonical_dist, load_settings
from torchrack._vetting import OK, ComponentInfo, PluginInfo, vet_all

_REF = re.compile(
    r"^(?:(?P<dist>[A-Za-z0-9][A-Za-z0-9._-]*):)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:@(?P<spec>.+))?$"
)


class ComponentNotFoundError(TorchrackError, LookupError):
    """No usable component answers to a name; says why and suggests close names."""

    def __init__(self, message: str, kind: str, ref: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.ref = ref


class AmbiguousComponentError(TorchrackError, LookupError):
    """A bare name that more than one distribution provides."""

    def __init__(self, message: str, providers: list[ComponentInfo]) -> None:
        super().__init__(message)
        self.providers = providers


class ComponentVersionError(TorchrackError, LookupError):
    """A component whose version does not satisfy the requested constraint."""


class PluginImportError(TorchrackError, ImportError):
    """A plugin module raised when imported; the original error is chained as ``__cause__``."""

    def __init__(self, message: str, component: ComponentInfo) -> None:
        super().__init__(message)
        self.component = component


@dataclass(frozen=True)
class ComponentRef:
    """A parsed reference: ``[dist:]name[@specifier]``."""

    name: str
    dist: str | None = None
    specifier: str | None = None

    @classmethod
    def parse(cls, text: str, version: str | None = None) -> ComponentRef:
        m = _REF.match(text.strip())
        if not m:
            raise ComponentNotFoundError(
                f"invalid component reference {text!r}; expected 'name', 'dist:name' or "
                "'name@>=1,<2'",
                kind="",
                ref=text,
            )
        spec = m.group("spec") or version
        if spec:
            from packaging.specifiers import InvalidSpecifier, SpecifierSet

            try:
                SpecifierSet(spec)
            except InvalidSpecifier:
                raise ComponentVersionError(
                    f"invalid version constraint {spec!r} for {m.group('name')!r}; expected a "
                    "PEP 440 specifier such as '>=1,<2'"
                ) from None
        return cls(m.group("name"), m.group("dist"), spec)


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """An exception and its chain of causes, as plain data for reports."""
    import traceback

    chain: list[str] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 20:
        chain.append(f"{type(cur).__name__}: {cur}")
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
    return {
        "error": chain[0],
        "chain": chain,
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


class Registry:
    """Vetted plugins and their components; resolves names and imports on first use only."""

    def __init__(self, plugins: Iterable[PluginInfo], torch_version: str | None = None) -> None:
        self.plugins: list[PluginInfo] = list(plugins)
        self.torch_version = torch_version
        self._by_kind: dict[str, dict[str, list[ComponentInfo]]] = {k: {} for k in KINDS}
        for plugin in self.plugins:
            if plugin.verdict != OK:
                continue
            for comp in plugin.components:
                self._by_kind[comp.kind].setdefault(comp.name, []).append(comp)
        self._loaded: dict[tuple[str, str], Any] = {}

    @classmethod
    def discover(
        cls,
        settings: Settings | None = None,
        use_cache: bool | None = None,
        *,
        path: list[str] | None = None,
    ) -> Registry:
        """Scan installed distributions and vet them; imports no plugin and not torch.

        ``path`` (default: ``sys.path``) limits discovery to distributions in those folders.
        """
        settings = settings or load_settings()
        result = scan(use_cache, path=path)
        if settings.no_plugins:  # TORCHRACK_NO_PLUGINS=1: nothing is vetted, listed or loaded
            return cls([], result.torch_version)
        return cls(vet_all(result, settings), result.torch_version)

    def require_usable(self) -> None:
        """Strict mode: raise when any installed plugin is incompatible or broken."""
        bad = [p for p in self.plugins if p.verdict in ("incompatible", "broken")]
        if bad:
            lines = "\n".join(f"  {p.name} {p.version}: {p.verdict}: {'; '.join(p.reasons)}" for p in bad)
            raise TorchrackError(
                f"strict mode: {len(bad)} installed plugin(s) cannot be used:\n{lines}\n"
                "uninstall or fix them, deny them (TORCHRACK_DENY), or turn strict mode off"
            )

    def components(self, kind: str | None = None) -> list[ComponentInfo]:
        """Usable components (of one kind), sorted by kind then name."""
        kinds = [self._kind(kind)] if kind else list(KINDS)
        out = [c for k in kinds for comps in self._by_kind[k].values() for c in comps]
        return sorted(out, key=lambda c: (KINDS.index(c.kind), c.name, c.qualname))

    def plugin(self, dist: str) -> PluginInfo | None:
        """The vetted distribution named ``dist`` (any spelling), or None."""
        want = canonical_dist(dist)
        return next((p for p in self.plugins if p.canonical_name == want), None)

    @staticmethod
    def _kind(kind: str) -> str:
        norm = normalize_kind(kind)
        if norm is None:
            raise TorchrackError(f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)}")
        return norm

    def _unusable_providers(self, kind: str, name: str) -> list[str]:
        notes = []
        for plugin in self.plugins:
            for ep in plugin.entry_points:
                if ep.kind == kind and ep.name == name and plugin.verdict != OK:
                    notes.append(f"{plugin.name} {plugin.version} provides it but is "
                                 f"{plugin.verdict}: {'; '.join(plugin.reasons)}")
        return notes

    def resolve(self, kind: str, ref: str, version: str | None = None) -> ComponentInfo:
        """Find the component ``ref`` (``name``, ``dist:name``, ``name@spec``) of ``kind``.

        A deprecated component with a ``replaced_by`` resolves to its replacement, with a
        :class:`TorchrackDeprecationWarning`. Nothing is imported.
        """
        kind = self._kind(kind)
        parsed = ComponentRef.parse(ref, version)
        candidates = list(self._by_kind[kind].get(parsed.name, []))
        if parsed.dist:
            candidates = [c for c in candidates if canonical_dist(c.dist) == canonical_dist(parsed.dist)]
        usable = [c for c in candidates if not c.denied]
        if not usable:
            lines = [f"no {kind} named {ref!r}"]
            lines += [f"{c.qualname} is {c.denied}" for c in candidates if c.denied]
            lines += self._unusable_providers(kind, parsed.name)
            import difflib

            known = sorted({c.name for c in self.components(kind)} | {c.qualname for c in self.components(kind)})
            close = difflib.get_close_matches(parsed.name, known, n=3)
            if close:
                lines.append(f"did you mean {' or '.join(repr(c) for c in close)}?")
            elif known:
                lines.append(f"available {kind} components: {', '.join(sorted({c.name for c in self.components(kind)}))}")
            else:
                lines.append(f"no {kind} components are installed; pip install a plugin that provides one")
            raise ComponentNotFoundError("; ".join(lines), kind, ref)
        if len(usable) > 1:
            names = ", ".join(f"{c.qualname} ({c.dist} {c.dist_version})" for c in usable)
            raise AmbiguousComponentError(
                f"{kind} name {parsed.name!r} is provided by more than one distribution: {names}; "
                f"write one of them as 'dist:name'",
                usable,
            )
        comp = usable[0]
        if comp.deprecated:
            dep = comp.deprecated
            target = dep.get("replaced_by")
            if target and target != comp.name:
                warnings.warn(
                    f"{kind} {comp.qualname!r} is deprecated since {dep['since']}; "
                    f"using its replacement {target!r}",
                    TorchrackDeprecationWarning,
                    stacklevel=2,
                )
                same_dist = f"{canonical_dist(comp.dist)}:{target}"
                try:
                    return self.resolve(kind, same_dist)
                except ComponentNotFoundError:
                    return self.resolve(kind, target)
            warnings.warn(
                f"{kind} {comp.qualname!r} is deprecated since {dep['since']}",
                TorchrackDeprecationWarning,
                stacklevel=2,
            )
        if parsed.specifier:
            from packaging.specifiers import SpecifierSet
            from packaging.version import InvalidVersion, Version

            try:
                ok = SpecifierSet(parsed.specifier).contains(Version(comp.version), prereleases=True)
            except InvalidVersion:
                ok = False
            if not ok:
                raise ComponentVersionError(
                    f"{kind} {comp.qualname} is version {comp.version}, which does not satisfy "
                    f"{parsed.specifier!r} (from {comp.dist} {comp.dist_version}); install a "
                    f"release of {comp.dist} that provides it or change the constraint"
                )
        return comp

    def load(self, comp: ComponentInfo) -> Any:
        """Import ``comp``'s module and return its ``attr`` (a class or factory). Cached."""
        key = (comp.kind, comp.qualname)
        if key in self._loaded:
            return self._loaded[key]
        plugin = self.plugin(comp.dist)
        if plugin is None or plugin.verdict != OK or comp.denied:
            raise TorchrackError(f"{comp.qualname} is not usable and will not be imported")
        module_name, _, attr = comp.entry_point.partition(":")
        try:
            obj: Any = importlib.import_module(module_name.strip())
            for part in attr.strip().split(".") if attr.strip() else []:
                obj = getattr(obj, part)
        except Exception as exc:  # noqa: BLE001 - any import-time failure of a plugin
            plugin.verdict = "broken"
            plugin.import_error = describe_exception(exc)
            plugin.reasons.append(f"importing {comp.entry_point} failed: {plugin.import_error['error']}")
            raise PluginImportError(
                f"{comp.kind} {comp.qualname} from {comp.dist} {comp.dist_version} failed to "
                f"import ({comp.entry_point}): {type(exc).__name__}: {exc}",
                comp,
            ) from exc
        self._loaded[key] = obj
        return obj

    def get(self, kind: str, ref: str, version: str | None = None) -> Any:
        """Resolve then load: the factory of component ``ref`` of ``kind``."""
        return self.load(self.resolve(kind, ref, version))
