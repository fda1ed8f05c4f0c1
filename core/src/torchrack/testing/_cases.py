"""Conformance cases: one per (component, check), plus one ``manifest`` case per distribution.

A case's id is ``dist:name::check`` (``dist::manifest`` for the distribution's own check); the
pytest plugin and :func:`parametrize_conformance` use it as the test id. Known failures are
declared by id, with a reason, either in code (``known_failures=``) or in the project's
``pyproject.toml``::

    [tool.torchrack.conformance]
    xfail = {"acme-losses:focal::batching" = "needs float64 state, tracked in #12"}
    params = {"acme-datasets:files" = {path = "tests/data/tiny.npz"}}
    compile = true   # also run the opt-in `compile` check (torch.compile(fullgraph=True))

They run as *strict* expected failures: a declared failure that passes fails the run, so the
declaration is removed as soon as the fix lands. ``xfail`` may also be a list of ids.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchrack._errors import TorchrackError
from torchrack.plugins._registry import Registry
from torchrack.plugins._trust import canonical_dist
from torchrack.plugins._vetting import BROKEN, DENIED, INCOMPATIBLE, PluginInfo
from torchrack.testing._catalog import checks_for, run_check
from torchrack.testing._subject import (
    FAILED,
    PASSED,
    SKIPPED,
    ConformanceFailure,
    Result,
    Subject,
)

MANIFEST_CHECK = "manifest"
COMPILE_CHECK = "compile"


def compile_wanted(explicit: bool | None, config: ConformanceConfig | None = None) -> bool:
    """Whether the opt-in ``compile`` check runs: ``explicit`` (an argument or the pytest
    option) if given, else ``TORCHRACK_CONFORMANCE_COMPILE``, else the config's ``compile``."""
    if explicit is not None:
        return explicit
    env = os.environ.get("TORCHRACK_CONFORMANCE_COMPILE", "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    return bool(config and config.compile)


def _remember_compile(registry: Registry, comp: Any, result: Result) -> None:
    """Record the ``compile`` result for ``torchrack info`` (skips are not results)."""
    if result.status == SKIPPED:
        return
    from torchrack.testing._compile_record import record

    plugin = registry.plugin(comp.dist)
    torch = sys.modules.get("torch")
    record(
        canonical_dist(comp.dist), plugin.version if plugin is not None else "", comp.kind, comp.name,
        result.status, result.messages, str(getattr(torch, "__version__", "")),
    )


class ConformanceConfigError(TorchrackError):
    """A ``[tool.torchrack.conformance]`` table or ``known_failures`` entry that cannot be used."""


@dataclass
class ConformanceConfig:
    """Known failures (id -> reason), params per component (``dist:name`` -> params), and
    whether the opt-in ``compile`` check runs."""

    xfail: dict[str, str] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = ""
    compile: bool = False


def _norm_id(case_id: str) -> str:
    head, sep, check = case_id.partition("::")
    if not sep or not check:
        raise ConformanceConfigError(
            f"invalid conformance case id {case_id!r}; expected 'dist:name::check' or 'dist::manifest'"
        )
    dist, _, name = head.partition(":")
    return f"{canonical_dist(dist)}{':' + name if name else ''}::{check}"


def _norm_ref(ref: str) -> str:
    dist, sep, name = ref.partition(":")
    if not sep:
        raise ConformanceConfigError(f"invalid component {ref!r} in conformance params; expected 'dist:name'")
    return f"{canonical_dist(dist)}:{name}"


def load_config(pyproject: str | os.PathLike[str] | None = None) -> ConformanceConfig:
    """Read ``[tool.torchrack.conformance]`` from ``pyproject`` (default: ./pyproject.toml)."""
    path = Path(pyproject) if pyproject is not None else Path.cwd() / "pyproject.toml"
    if not path.is_file():
        return ConformanceConfig()
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            table = tomllib.load(fh).get("tool", {}).get("torchrack", {}).get("conformance", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConformanceConfigError(f"{path}: cannot read [tool.torchrack.conformance]: {exc}") from exc
    source = f"{path} [tool.torchrack.conformance]"
    xfail = table.get("xfail", {})
    if isinstance(xfail, list) and all(isinstance(x, str) for x in xfail):
        xfail = {x: "declared known failure" for x in xfail}
    if not isinstance(xfail, dict) or not all(isinstance(v, str) for v in xfail.values()):
        raise ConformanceConfigError(
            f"{source}: xfail must be a list of case ids or a table of id = \"reason\", found {xfail!r}"
        )
    params = table.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        raise ConformanceConfigError(f"{source}: params must be a table of \"dist:name\" = {{...}}, found {params!r}")
    compile_ = table.get("compile", False)
    if not isinstance(compile_, bool):
        raise ConformanceConfigError(f"{source}: compile must be true or false, found {compile_!r}")
    try:
        return ConformanceConfig(
            {_norm_id(k): v for k, v in xfail.items()},
            {_norm_ref(k): dict(v) for k, v in params.items()},
            source,
            compile_,
        )
    except ConformanceConfigError as exc:
        raise ConformanceConfigError(f"{source}: {exc}") from None


def check_manifest(plugin: PluginInfo) -> list[str]:
    """The distribution is usable: valid manifest, compatible, entry points and manifest agree."""
    if plugin.verdict == DENIED:
        return []
    problems = []
    if plugin.verdict in (INCOMPATIBLE, BROKEN):
        problems += [f"is {plugin.verdict}: {r}" for r in plugin.reasons]
    problems += [w for w in plugin.warnings if " is deprecated since " not in w]
    return problems


@dataclass
class Case:
    """One conformance check of one component (or of a distribution's manifest)."""

    dist: str
    component: str | None
    kind: str | None
    check: str
    registry: Registry = field(repr=False)
    params: dict[str, Any] = field(default_factory=dict, repr=False)
    sizes: dict[str, int] = field(default_factory=dict, repr=False)
    known_failure: str | None = None

    @property
    def id(self) -> str:
        """``dist:name::check``, or ``dist::manifest``."""
        return f"{self.dist}:{self.component}::{self.check}" if self.component else f"{self.dist}::{self.check}"

    def result(self) -> Result:
        """Run the check and return its outcome (never raises for a failing component)."""
        if self.component is None:
            plugin = self.registry.plugin(self.dist)
            assert plugin is not None
            if plugin.verdict == DENIED:
                return Result(self.check, self.dist, SKIPPED, reason=f"{self.dist} is denied: {'; '.join(plugin.reasons)}")
            problems = check_manifest(plugin)
            if not problems:
                return Result(self.check, self.dist, PASSED)
            return Result(self.check, self.dist, FAILED, [f"[manifest] {self.dist}: {p}" for p in problems])
        comp = next(
            c for c in self.registry.components(self.kind)
            if c.name == self.component and canonical_dist(c.dist) == self.dist
        )
        result = run_check(self.check, Subject(comp, self.registry, self.params, self.sizes))
        if self.check == COMPILE_CHECK:
            _remember_compile(self.registry, comp, result)
        return result

    def run(self) -> None:
        """Run the check: return when it passes, skip (pytest) when it does not apply, else raise
        :class:`ConformanceFailure` with every problem."""
        result = self.result()
        if result.status == SKIPPED:
            import pytest

            pytest.skip(result.reason)
        if result.status == FAILED:
            raise ConformanceFailure(result.messages)


def _dists(dist: str | Iterable[str] | None) -> list[str] | None:
    if dist is None:
        return None
    return [canonical_dist(d) for d in ([dist] if isinstance(dist, str) else dist)]


def conformance_cases(
    dist: str | Iterable[str] | None = None,
    *,
    registry: Registry | None = None,
    known_failures: Mapping[str, str] | Iterable[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    sizes: Mapping[str, int] | None = None,
    config: ConformanceConfig | None = None,
    compile: bool | None = None,
) -> list[Case]:
    """Every conformance case of the installed plugin distributions (or of ``dist`` only).

    The opt-in ``compile`` check is included when ``compile`` is True; None follows
    ``TORCHRACK_CONFORMANCE_COMPILE``, then the config's ``compile`` (default off).

    ``known_failures`` (ids, or id -> reason) and ``params`` (``dist:name`` -> params) add to
    those of ``config`` (default: ``[tool.torchrack.conformance]`` of ./pyproject.toml). A known
    failure that matches no case of the selected distributions is an error, so a typo cannot
    hide a failure.
    """
    registry = registry or Registry.discover()
    config = config if config is not None else load_config()
    xfail = dict(config.xfail)
    if known_failures is not None:
        if isinstance(known_failures, Mapping):
            xfail.update({_norm_id(k): str(v) for k, v in known_failures.items()})
        else:
            xfail.update({_norm_id(k): "declared known failure" for k in known_failures})
    all_params = dict(config.params)
    opt_in = [COMPILE_CHECK] if compile_wanted(compile, config) else []
    all_params.update({_norm_ref(k): dict(v) for k, v in (params or {}).items()})

    wanted = _dists(dist)
    plugins = registry.plugins
    if wanted is not None:
        known = {p.canonical_name for p in plugins}
        missing = [d for d in wanted if d not in known]
        if missing:
            close = difflib.get_close_matches(missing[0], sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConformanceConfigError(
                f"no plugin distribution named {', '.join(missing)} is installed{hint}; "
                f"installed: {', '.join(sorted(known)) or 'none'}"
            )
        plugins = [p for p in plugins if p.canonical_name in wanted]
    cases: list[Case] = []
    for plugin in sorted(plugins, key=lambda p: p.canonical_name):
        d = plugin.canonical_name
        cases.append(Case(d, None, None, MANIFEST_CHECK, registry))
        comps = [c for c in registry.components() if canonical_dist(c.dist) == d]
        for comp in comps:
            for check in checks_for(comp.kind, opt_in=opt_in):
                cases.append(Case(
                    d, comp.name, comp.kind, check, registry,
                    dict(all_params.get(f"{d}:{comp.name}", {})), dict(sizes or {}),
                ))
    ids = {c.id for c in cases}
    selected = {p.canonical_name for p in plugins}
    unmatched = [k for k in xfail if k not in ids and k.split("::")[0].split(":")[0] in selected]
    if unmatched:
        close = difflib.get_close_matches(unmatched[0], sorted(ids), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConformanceConfigError(
            f"known failure {unmatched[0]!r} matches no conformance case{hint}; "
            f"ids look like 'dist:name::check'"
        )
    for case in cases:
        case.known_failure = xfail.get(case.id)
    return cases


def check_component(
    component: str,
    *,
    kind: str | None = None,
    params: Mapping[str, Any] | None = None,
    checks: Iterable[str] | None = None,
    registry: Registry | None = None,
    sizes: Mapping[str, int] | None = None,
    compile: bool | None = None,
) -> list[Result]:
    """Run every check (or ``checks``) on one component and raise if any fails.

    The opt-in ``compile`` check is among "every check" when ``compile`` is True (None:
    when ``TORCHRACK_CONFORMANCE_COMPILE`` is set), or when ``checks`` names it.

    ``component`` is ``dist:name`` or a bare name; ``kind`` is needed only when the name is
    used by components of several kinds. Returns the results (passed and skipped) when none
    failed; raises :class:`ConformanceFailure` listing every failure otherwise.
    """
    from torchrack._kinds import KINDS

    registry = registry or Registry.discover()
    comp = None
    errors = []
    for k in [kind] if kind else KINDS:
        try:
            comp = registry.resolve(k, component)
            break
        except TorchrackError as exc:
            errors.append(str(exc))
    if comp is None:
        raise TorchrackError(errors[0] if kind else f"no component named {component!r} is installed")
    subject = Subject(comp, registry, params, sizes)
    opt_in = [COMPILE_CHECK] if compile_wanted(compile) else []
    names = list(checks) if checks is not None else checks_for(comp.kind, opt_in=opt_in)
    results = [run_check(name, subject) for name in names]
    for result in results:
        if result.check == COMPILE_CHECK:
            _remember_compile(registry, comp, result)
    failures = [m for r in results for m in r.messages]
    if failures:
        raise ConformanceFailure(failures)
    return results
