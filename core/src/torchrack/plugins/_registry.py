"""The registry: components by kind, resolved by ``name`` or ``dist:name``, imported on first use.

>>> reg = Registry.discover()                      # reads metadata and manifests, imports nothing
>>> comp = reg.resolve("loss", "focal@>=1,<2")     # still imports nothing
>>> factory = reg.load(comp)                       # imports the plugin module now
"""

from __future__ import annotations

import gc
import re
import warnings
from collections.abc import Iterable
from typing import Any

from torchrack._errors import TorchrackDeprecationWarning, TorchrackError
from torchrack._kinds import COMMANDS_GROUP, GROUPS, HOOKS_GROUP, KINDS, normalize_kind, unknown_kind
from torchrack._record import FrozenRecord
from torchrack.plugins._discovery import EntryPointFact, scan
from torchrack.plugins._facts import ScanResult
from torchrack.plugins._loader import (
    EntryPointImportError,
    TrustPolicy,
    describe_exception,  # noqa: F401 - kept importable from here
    guard_imports,
    load_entry_point,
)
from torchrack.plugins._trust import Settings, canonical_dist, load_settings
from torchrack.plugins._vetting import OK, ComponentInfo, PluginInfo, precompute, vet_all

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


class ComponentRef(FrozenRecord):
    """A parsed reference: ``[dist:]name[@specifier]``."""

    _fields = ("name", "dist", "specifier")
    name: str
    dist: str | None
    specifier: str | None

    def __init__(self, name: str, dist: str | None = None, specifier: str | None = None) -> None:
        self._set(name=name, dist=dist, specifier=specifier)

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


class Registry:
    """Vetted plugins and their components; resolves names and imports on first use only."""

    def __init__(
        self,
        plugins: Iterable[PluginInfo],
        torch_version: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.plugins: list[PluginInfo] = list(plugins)
        self.torch_version = torch_version
        self.settings = settings if settings is not None else Settings()
        self.trust = TrustPolicy(self.settings, self.plugins)
        self._by_kind: dict[str, dict[str, list[ComponentInfo]]] = {k: {} for k in KINDS}
        for plugin in self.plugins:
            if plugin.verdict != OK:
                continue
            for comp in plugin.components:
                self._by_kind[comp.kind].setdefault(comp.name, []).append(comp)
        self._loaded: dict[tuple[str, str], Any] = {}
        #: The scan :meth:`discover` built this registry from (None for one built by hand).
        self.scan_result: ScanResult | None = None

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
        # Discovery builds many small objects and no reference cycles: the cyclic collector's
        # passes over them (each new thousand objects) were ~8% of a 1,000-plugin listing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            result = scan(use_cache, path=path, annotate=precompute)
            if settings.no_plugins:  # TORCHRACK_NO_PLUGINS=1: nothing is vetted, listed or loaded
                reg = cls([], result.torch_version, settings)
            else:
                reg = cls(vet_all(result, settings), result.torch_version, settings)
            reg.scan_result = result
            return reg
        finally:
            if collecting:
                gc.enable()

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
        kinds = [self._kind(kind)] if kind is not None else list(KINDS)  # "" is a kind misspelt
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
            raise TorchrackError(unknown_kind(kind))
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

    def entry_point(self, comp: ComponentInfo) -> EntryPointFact:
        """The entry point that registers ``comp``."""
        return EntryPointFact(GROUPS[comp.kind], comp.name, comp.entry_point)

    def refusal(self, plugin: PluginInfo, ep: EntryPointFact) -> str | None:
        """Why ``ep`` of ``plugin`` must not be imported (trust, verdict), or None."""
        return self.trust.refusal(plugin, ep)

    def importable(self, plugin: PluginInfo) -> list[EntryPointFact]:
        """The entry points of ``plugin`` that trust allows to import (for the import probe)."""
        return [ep for ep in plugin.entry_points if self.refusal(plugin, ep) is None]

    def probe(self, plugins: Iterable[PluginInfo], only: Iterable[EntryPointFact] | None = None) -> None:
        """Try each trusted entry point of ``plugins`` (of ``only``, when given) in child
        processes, one per distribution (:mod:`torchrack.plugins._probe`); a plugin whose import
        fails, hangs past the probe timeout or ends its process is marked broken, alone."""
        from torchrack.plugins._probe import probe_imports

        wanted = None if only is None else {id(e) for e in only}
        groups: dict[str, list[tuple[str, str]]] = {}
        by_key: dict[str, tuple[PluginInfo, EntryPointFact]] = {}
        for plugin in plugins:
            for ep in plugin.entry_points:
                if wanted is not None and id(ep) not in wanted:
                    continue
                why = self.refusal(plugin, ep)
                if why is not None:
                    if plugin.verdict == "ok" and not self.settings.denial(plugin.name, ep.name):
                        # not denied itself, but it imports what trust forbids: unusable here
                        plugin.verdict = "broken"
                        plugin.reasons.append(f"importing {ep.group}:{ep.name} = {ep.value} is refused: {why}")
                    continue
                key = f"{plugin.canonical_name}|{ep.group}|{ep.name}"
                groups.setdefault(plugin.canonical_name, []).append((key, ep.value))
                by_key[key] = (plugin, ep)
        results = probe_imports(groups, self.settings.probe_timeout,
                                denied=sorted(self.trust.denied_packages()))
        for key, err in results.items():
            if not err:
                continue
            plugin, ep = by_key[key]
            plugin.verdict = "broken"
            plugin.import_error = plugin.import_error or err
            plugin.reasons.append(f"importing {ep.group}:{ep.name} = {ep.value} failed: {err['error']}")

    def load_entry_point(self, plugin: PluginInfo, ep: EntryPointFact, who: str) -> Any:
        """Import ``ep`` of ``plugin`` after the trust checks; a failure marks ``plugin`` broken."""
        why = self.refusal(plugin, ep)
        if why is not None:
            raise TorchrackError(f"{who} will not be imported: {why}")
        guard_imports(self.trust.denied_packages())
        try:
            return load_entry_point(ep.value, who=who)
        except EntryPointImportError as exc:
            plugin.verdict = "broken"
            plugin.import_error = exc.description
            plugin.reasons.append(f"importing {ep.group}:{ep.name} = {ep.value} failed: {exc.description['error']}")
            raise

    def load(self, comp: ComponentInfo) -> Any:
        """Import ``comp``'s module and return its ``attr`` (a class or factory). Cached."""
        key = (comp.kind, comp.qualname)
        if key in self._loaded:
            return self._loaded[key]
        plugin = self.plugin(comp.dist)
        if plugin is None or plugin.verdict != OK or comp.denied:
            raise TorchrackError(f"{comp.qualname} is not usable and will not be imported")
        who = f"{comp.kind} {comp.qualname} from {comp.dist} {comp.dist_version}"
        try:
            obj = self.load_entry_point(plugin, self.entry_point(comp), who)
        except EntryPointImportError as exc:
            raise PluginImportError(str(exc), comp) from exc.__cause__
        self._loaded[key] = obj
        return obj

    # -- hooks and commands ----------------------------------------------------------------------

    def _named(self, group: str, ref: str, what: str) -> tuple[PluginInfo, EntryPointFact]:
        dist, _, short = ref.rpartition(":")
        found = [
            (p, e) for p in self.plugins for e in p.entry_points
            if e.group == group and e.name == short and (not dist or p.canonical_name == canonical_dist(dist))
        ]
        usable = [(p, e) for p, e in found if self.refusal(p, e) is None]
        if len(usable) == 1:
            return usable[0]
        if not usable:
            lines = [f"no usable {what} named {ref!r} (a {group} entry point)"]
            lines += [f"{p.name} {p.version} provides it but {self.refusal(p, e)}" for p, e in found]
            import difflib

            known = sorted({e.name for p in self.plugins for e in p.entry_points
                            if e.group == group and self.refusal(p, e) is None})
            close = difflib.get_close_matches(short, known, n=3)
            if close:
                lines.append(f"did you mean {' or '.join(repr(c) for c in close)}?")
            elif known:
                lines.append(f"available: {', '.join(known)}")
            else:
                lines.append(f"no {what} is installed; pip install a plugin that provides one")
            raise ComponentNotFoundError("; ".join(lines), what, ref)
        names = ", ".join(f"{p.canonical_name}:{e.name} ({p.name} {p.version})" for p, e in usable)
        raise AmbiguousComponentError(
            f"{what} name {short!r} is provided by more than one distribution: {names}; "
            "write one of them as 'dist:name'", [],
        )

    def resolve_hook(self, ref: str) -> tuple[PluginInfo, EntryPointFact]:
        """The ``torchrack.hooks`` entry point ``ref`` (``name`` or ``dist:name``); imports nothing."""
        return self._named(HOOKS_GROUP, ref, "hooks module")

    def load_hook(self, ref: str) -> tuple[str, Any]:
        """Resolve and import the hook module ``ref``; returns ``(dist:name, module or object)``."""
        plugin, ep = self.resolve_hook(ref)
        qual = f"{plugin.canonical_name}:{ep.name}"
        who = f"hooks {qual} from {plugin.name} {plugin.version}"
        return qual, self.load_entry_point(plugin, ep, who)

    def commands(self) -> list[tuple[PluginInfo, EntryPointFact]]:
        """Every ``torchrack.commands`` entry point, usable or not, in discovery order."""
        return [(p, e) for p in self.plugins for e in p.entry_points if e.group == COMMANDS_GROUP]

    def load_command(self, plugin: PluginInfo, ep: EntryPointFact) -> Any:
        """Import command ``ep`` of ``plugin`` (after the trust checks)."""
        return self.load_entry_point(plugin, ep, f"command {ep.name!r} from {plugin.name} {plugin.version}")

    def get(self, kind: str, ref: str, version: str | None = None) -> Any:
        """Resolve then load: the factory of component ``ref`` of ``kind``."""
        return self.load(self.resolve(kind, ref, version))
