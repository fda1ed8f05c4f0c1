"""Vetting: a verdict per plugin distribution, from its metadata and manifest alone.

Verdicts:

- ``ok``: usable; its components are registered.
- ``incompatible``: its ``Requires-Dist`` on ``torchrack`` or ``torch``, or its manifest's hook-API
  range, excludes what is installed. Every reason is listed. Its modules are never imported.
- ``broken``: its manifest is missing or invalid, or (found only when imported) a module raises.
- ``denied``: excluded by the allow/deny settings. Its modules are never imported.
- ``not-a-plugin`` (:data:`NOT_PLUGIN`): a wheel given to ``torchrack check`` that declares no
  ``torchrack.*`` entry points (discovery never lists such installed distributions).

Warnings (``torchrack check --strict`` fails on them): entry points the manifest does not
describe and the reverse, a kind that differs between group and manifest, deprecated components,
no ``Requires-Dist`` on torchrack.
"""

from __future__ import annotations

from typing import Any

from torchrack._kinds import NON_COMPONENT_KINDS
from torchrack._record import FrozenRecord, Record
from torchrack._version import API_VERSION, __version__
from torchrack.plugins._discovery import DistFacts, EntryPointFact, ScanResult
from torchrack.plugins._trust import Settings, canonical_dist
from torchrack.plugins._versions import contains, requirement_name, simple_requirement

OK = "ok"
INCOMPATIBLE = "incompatible"
BROKEN = "broken"
DENIED = "denied"
#: A built wheel with no ``torchrack.*`` entry points (``torchrack check WHEEL`` only): not a
#: torchrack plugin at all, so neither usable nor broken; ``check --strict`` fails on it.
NOT_PLUGIN = "not-a-plugin"


class ComponentInfo(Record):
    """A registered component: who provides it, what its manifest declares."""

    _fields = ("kind", "name", "dist", "dist_version", "entry_point", "spec", "denied")

    def __init__(self, kind: str, name: str, dist: str, dist_version: str, entry_point: str,
                 spec: dict[str, Any], denied: str | None = None) -> None:
        self.kind = kind
        self.name = name
        self.dist = dist
        self.dist_version = dist_version
        self.entry_point = entry_point
        self.spec = spec
        self.denied = denied

    @property
    def qualname(self) -> str:
        """``dist:name``, which always resolves to this component."""
        return f"{canonical_dist(self.dist)}:{self.name}"

    @property
    def version(self) -> str:
        return str(self.spec.get("version", "0"))

    @property
    def summary(self) -> str:
        return str(self.spec.get("summary", ""))

    @property
    def params_schema(self) -> dict[str, Any]:
        schema = self.spec.get("params")
        return schema if isinstance(schema, dict) else {"type": "object", "properties": {}}

    @property
    def inputs(self) -> dict[str, Any]:
        return dict(self.spec.get("inputs", {}))

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(self.spec.get("outputs", {}))

    @property
    def devices(self) -> list[str]:
        return list(self.spec.get("devices", ["cpu", "meta"]))

    @property
    def deprecated(self) -> dict[str, Any] | None:
        dep = self.spec.get("deprecated")
        return dep if isinstance(dep, dict) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "qualname": self.qualname,
            "version": self.version,
            "summary": self.summary,
            "distribution": self.dist,
            "distribution_version": self.dist_version,
            "entry_point": self.entry_point,
            "devices": self.devices,
            "deprecated": self.deprecated,
            "denied": self.denied,
        }


class PluginInfo(Record):
    """A plugin distribution and its verdict, with every reason and warning."""

    _fields = ("name", "version", "location", "verdict", "reasons", "warnings", "components", "hooks",
               "commands", "entry_points", "manifest_path", "manifest", "requires", "import_error")

    def __init__(
        self,
        name: str,
        version: str,
        location: str,
        verdict: str,
        reasons: list[str] | None = None,
        warnings: list[str] | None = None,
        components: list[ComponentInfo] | None = None,
        hooks: list[EntryPointFact] | None = None,
        commands: list[EntryPointFact] | None = None,
        entry_points: list[EntryPointFact] | None = None,
        manifest_path: str | None = None,
        manifest: dict[str, Any] | None = None,
        requires: list[str] | None = None,
        import_error: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.location = location
        self.verdict = verdict
        self.reasons: list[str] = [] if reasons is None else reasons
        self.warnings: list[str] = [] if warnings is None else warnings
        self.components: list[ComponentInfo] = [] if components is None else components
        self.hooks: list[EntryPointFact] = [] if hooks is None else hooks
        self.commands: list[EntryPointFact] = [] if commands is None else commands
        self.entry_points: list[EntryPointFact] = [] if entry_points is None else entry_points
        self.manifest_path = manifest_path
        self.manifest = manifest
        self.requires: list[str] = [] if requires is None else requires
        self.import_error = import_error

    @property
    def canonical_name(self) -> str:
        return canonical_dist(self.name)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "location": self.location,
            "verdict": self.verdict,
            "reasons": self.reasons,
            "warnings": self.warnings,
            "components": [c.qualname for c in self.components],
            "hooks": [f"{h.name} = {h.value}" for h in self.hooks],
            "commands": [f"{c.name} = {c.value}" for c in self.commands],
            "manifest": self.manifest_path,
            "requires": self.requires,
            "import_error": self.import_error,
        }


class Environment(FrozenRecord):
    """The versions plugins are vetted against."""

    _fields = ("torchrack", "api", "torch")
    torchrack: str
    api: str
    torch: str | None

    def __init__(self, torchrack: str = __version__, api: str = API_VERSION, torch: str | None = None) -> None:
        self._set(torchrack=torchrack, api=api, torch=torch)


def _requirement_reasons(facts: DistFacts, env: Environment) -> tuple[list[str], list[str]]:
    # Most lines are decided by the fast path of _versions, with no packaging import (that import
    # is most of a cold `torchrack list`): lines on other distributions are skipped, and a plain
    # torchrack/torch range that the installed version satisfies needs no message. Anything else
    # (markers, extras, pre-releases, a failed requirement, invalid text) goes to packaging, line
    # by line and in order, so the result is what packaging alone gives.
    reasons: list[str] = []
    warnings: list[str] = []
    found_core = False
    for line in facts.requires:
        name = requirement_name(line)
        if name is not None and name not in ("torchrack", "torch"):
            if not line.split(";")[0].strip().lower().startswith("torch"):
                continue  # another distribution's, whether or not it parses
            if simple_requirement(line) is not None:
                continue  # e.g. torchvision>=0.19: valid, and another distribution's
        elif name is not None:
            simple = simple_requirement(line)
            installed = env.torchrack if name == "torchrack" else env.torch
            if simple is not None and installed is not None and contains(simple[1], installed):
                found_core = found_core or name == "torchrack"
                continue
        if _packaging_requirement(line, facts, env, reasons):
            found_core = True
    if not found_core:
        warnings.append(
            "declares no Requires-Dist on torchrack; add a range such as "
            "'torchrack>=0.1,<1' to its dependencies"
        )
    return reasons, warnings


def _packaging_requirement(line: str, facts: DistFacts, env: Environment, reasons: list[str]) -> bool:
    """Vet one ``Requires-Dist`` line with packaging; appends to ``reasons``.

    Returns whether the line is an applicable requirement on torchrack.
    """
    # packaging is imported here, not at module level: a warm `torchrack list` takes these
    # verdicts from the discovery cache (see compat()), and a cold one rarely needs it.
    from packaging.markers import UndefinedEnvironmentName
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    try:
        req = Requirement(line)
    except InvalidRequirement as exc:
        if line.split(";")[0].strip().lower().startswith("torch"):
            reasons.append(f"cannot parse Requires-Dist {line!r}: {exc}")
        return False
    name = canonical_dist(req.name)
    if name not in ("torchrack", "torch"):
        return False
    if req.marker is not None:
        try:
            if not req.marker.evaluate({"extra": ""}):
                return False  # only for an extra, or another platform
        except UndefinedEnvironmentName:
            return False
    if name == "torchrack":
        installed: str | None = env.torchrack
    else:
        installed = env.torch
    if installed is None:
        reasons.append(
            f"requires {req.name}{req.specifier} but {req.name} is not installed "
            f"(pip install '{req.name}{req.specifier}')"
        )
        return name == "torchrack"
    try:
        ok = req.specifier.contains(Version(installed), prereleases=True)
    except InvalidVersion:
        ok = False
    if not ok:
        fix = (
            f"upgrade {facts.name} to a release that supports {req.name} {installed}, "
            f"or install '{req.name}{req.specifier}'"
        )
        reasons.append(
            f"requires {req.name}{req.specifier} but {req.name} {installed} is installed ({fix})"
        )
    return name == "torchrack"


def _env_key(env: Environment) -> list[str | None]:
    return [env.torchrack, env.api, env.torch]


def _compute_compat(facts: DistFacts, env: Environment) -> dict[str, Any]:
    reasons, warnings = _requirement_reasons(facts, env)
    broken = list(facts.manifest_problems)
    manifest = facts.manifest
    if manifest is not None and not broken:
        api = manifest.get("api", "")
        supported = contains(api, env.api) if isinstance(api, str) else None
        if supported is None:
            from packaging.specifiers import InvalidSpecifier, SpecifierSet
            from packaging.version import Version

            try:
                supported = SpecifierSet(api).contains(Version(env.api), prereleases=True)
            except InvalidSpecifier:
                broken.append(f"{facts.manifest_path}: /api: {api!r} is not a PEP 440 specifier")
        if supported is False:
            reasons.append(
                f"its manifest supports hook API {api} but torchrack {env.torchrack} "
                f"provides API {env.api}"
            )
    return {"env": _env_key(env), "reasons": reasons, "warnings": warnings, "broken": broken}


def compat(facts: DistFacts, env: Environment) -> dict[str, Any]:
    """The settings-independent part of a verdict: requirement and API reasons, broken manifest.

    A pure function of the facts and ``env``, so it is stored in ``facts.compat`` (and with it in
    the discovery cache) and reused while ``env`` is the same.
    """
    cached = facts.compat
    if cached and cached.get("env") == _env_key(env):
        return cached
    facts.compat = _compute_compat(facts, env)
    return facts.compat


def precompute(scan: ScanResult) -> None:
    """Fill ``compat`` for every scanned distribution (before the scan is cached)."""
    env = Environment(torch=scan.torch_version)
    for facts in scan.dists:
        compat(facts, env)


def vet(facts: DistFacts, env: Environment, settings: Settings) -> PluginInfo:
    """Give ``facts`` a verdict. Reads no file and imports no plugin; memoizes ``facts.compat``."""
    components = [e for e in facts.entry_points if e.kind not in NON_COMPONENT_KINDS]
    info = PluginInfo(
        name=facts.name,
        version=facts.version,
        location=facts.location,
        verdict=OK,
        hooks=[e for e in facts.entry_points if e.kind == "hooks"],
        commands=[e for e in facts.entry_points if e.kind == "commands"],
        entry_points=list(facts.entry_points),
        manifest_path=facts.manifest_path,
        manifest=facts.manifest,
        requires=list(facts.requires),
    )
    denial = settings.denial(facts.name)
    if denial:
        info.verdict = DENIED
        info.reasons.append(denial)
        return info

    verdict = compat(facts, env)
    reasons, broken = list(verdict["reasons"]), list(verdict["broken"])
    info.warnings = list(verdict["warnings"])
    manifest = facts.manifest
    info.reasons = reasons + broken
    if reasons:
        info.verdict = INCOMPATIBLE
    elif broken:
        info.verdict = BROKEN
    if info.verdict != OK or manifest is None:
        return info

    declared: dict[str, Any] = manifest.get("components", {})
    declared_hooks: dict[str, Any] = manifest.get("hooks", {})
    for ep in components:
        spec = declared.get(ep.name)
        if spec is None:
            info.warnings.append(
                f"entry point {ep.group}:{ep.name} = {ep.value} is not described in the manifest "
                f"(add components.{ep.name} to {facts.manifest_path}); it is not registered"
            )
            continue
        if spec.get("kind") != ep.kind:
            info.warnings.append(
                f"entry point {ep.name} is in group {ep.group} but the manifest says kind "
                f"{spec.get('kind')!r}; it is not registered"
            )
            continue
        comp = ComponentInfo(
            kind=ep.kind,
            name=ep.name,
            dist=facts.name,
            dist_version=facts.version,
            entry_point=ep.value,
            spec=spec,
            denied=settings.denial(facts.name, ep.name),
        )
        if comp.deprecated:
            dep = comp.deprecated
            repl = f"; use {dep['replaced_by']!r} instead" if dep.get("replaced_by") else ""
            info.warnings.append(f"component {comp.qualname} is deprecated since {dep['since']}{repl}")
        info.components.append(comp)
    ep_names = {e.name for e in components}
    for name in declared:
        if name not in ep_names:
            info.warnings.append(
                f"manifest describes component {name!r} but the distribution has no entry point "
                "for it"
            )
    _cross_check(info.warnings, declared_hooks, info.hooks, "hooks", "hooks", "")
    _cross_check(info.warnings, manifest.get("commands", {}), info.commands, "command", "commands",
                 " (its summary is shown by `torchrack --help`)")
    return info


def _cross_check(warnings: list[str], declared: dict[str, Any], eps: list[EntryPointFact],
                 noun: str, section: str, why: str) -> None:
    """A warning for each manifest entry without an entry point of its kind, and the reverse."""
    names = {e.name for e in eps}
    for name in declared:
        if name not in names:
            warnings.append(f"manifest describes {noun} {name!r} but there is no such entry point")
    for e in eps:
        if e.name not in declared:
            warnings.append(f"{noun} entry point {e.name} = {e.value} is not described in the "
                            f"manifest's '{section}'{why}")


def vet_all(scan: ScanResult, settings: Settings) -> list[PluginInfo]:
    """Vet every scanned distribution against the installed core and torch."""
    env = Environment(torch=scan.torch_version)
    return [vet(d, env, settings) for d in scan.dists]
