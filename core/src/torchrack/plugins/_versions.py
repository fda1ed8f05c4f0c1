"""A fast, conservative path for the requirements and versions vetting sees almost always.

Vetting reads every ``Requires-Dist`` line of every plugin, but only those on ``torchrack`` and
``torch`` matter, and they nearly always use plain release versions (``torchrack>=0.1,<1``,
``torch>=2.4``) checked against a plain installed version (``2.13.0+cpu``). Importing
``packaging.requirements`` for that costs more than the rest of a cold ``torchrack list``, so
these helpers decide that subset with :mod:`re` alone.

Every helper answers ``None`` ("undecided") for anything outside the subset it knows: pre-,
post- and dev releases, epochs, ``===``, markers, extras, URLs, unusual whitespace, invalid
text. The caller then uses :mod:`packaging`, so a decided answer is always the one
``packaging`` gives (the tests check this against ``packaging`` itself).
"""

from __future__ import annotations

import functools
import re

__all__ = ["contains", "requirement_name", "simple_requirement"]

# A PEP 508 name: ASCII letters and digits, with ``.``, ``_``, ``-`` inside. It must end at a
# character that cannot continue an identifier, so ``torch_x`` is never read as ``torch``.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?![\w.-])"
_NAME_AT_START = re.compile(r"[ \t]*(" + _NAME + ")")
_SEPARATORS = re.compile(r"[-_.]+")

# Release segments of at most 30 digits: longer numbers are left to packaging (and to Python's
# limit on converting long digit strings to int).
_RELEASE = r"[0-9]{1,30}(?:\.[0-9]{1,30})*"
_OPERATOR = r"~=|==|!=|<=|>=|<|>"
# One clause as the fast path understands it; which operator may take ``.*`` is checked after.
_CLAUSE = re.compile(r"(" + _OPERATOR + r")[ \t]*(" + _RELEASE + r")(\.\*)?")
# A whole specifier list in the strict form that simple_requirement accepts.
_STRICT_CLAUSE = (
    r"(?:(?:==|!=)[ \t]*" + _RELEASE + r"(?:\.\*)?"
    r"|~=[ \t]*[0-9]{1,30}(?:\.[0-9]{1,30})+"
    r"|(?:<=|>=|<|>)[ \t]*" + _RELEASE + r")"
)
_STRICT_LIST = _STRICT_CLAUSE + r"(?:[ \t]*,[ \t]*" + _STRICT_CLAUSE + r")*"
_SIMPLE_REQUIREMENT = re.compile(
    r"[ \t]*(?P<name>" + _NAME + r")[ \t]*"
    r"(?:\([ \t]*(?P<paren>" + _STRICT_LIST + r")[ \t]*\)|(?P<bare>" + _STRICT_LIST + r"))?"
    r"[ \t]*"
)
# An installed version: a release with an optional local label (``2.13.0+cpu``).
_VERSION = re.compile(r"(" + _RELEASE + r")(?:\+[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*)?")


def _normalize(name: str) -> str:
    return _SEPARATORS.sub("-", name).lower()


@functools.lru_cache(maxsize=4096)  # pure; the same lines recur across plugins
def requirement_name(line: str) -> str | None:
    """The PEP 503-normalized distribution name that ``line`` (a ``Requires-Dist``) starts with.

    Reads only the name: the rest of the line is not checked, so a valid name followed by invalid
    text still gives the name. ``None`` when the line does not start with a valid name.
    """
    m = _NAME_AT_START.match(line)
    return _normalize(m.group(1)) if m else None


@functools.lru_cache(maxsize=4096)  # pure; the same lines recur across plugins
def simple_requirement(line: str) -> tuple[str, str] | None:
    """``(normalized name, specifier text)`` of a requirement with release-only specifiers.

    Accepts ``name``, ``name OPS`` and ``name (OPS)``, where OPS are comma-separated clauses
    ``>=, <=, >, <, ==, !=, ~=`` on release versions (``==``/``!=`` also with ``.*``), with spaces
    or tabs around the parts. ``None`` for extras, markers, URLs and anything else; such a line
    may still be valid, and is for :mod:`packaging` to parse.
    """
    m = _SIMPLE_REQUIREMENT.fullmatch(line)
    if m is None:
        return None
    spec = m.group("paren") or m.group("bare") or ""
    return _normalize(m.group("name")), spec


def _trimmed(release: tuple[int, ...]) -> tuple[int, ...]:
    """``release`` without trailing zeros: equal releases (``1.0``, ``1``) compare equal."""
    end = len(release)
    while end > 1 and release[end - 1] == 0:
        end -= 1
    return release[:end]


def _prefix(release: tuple[int, ...], length: int) -> tuple[int, ...]:
    """The first ``length`` segments of ``release``, padded with zeros."""
    return (release + (0,) * length)[:length]


def _clause_contains(op: str, spec: tuple[int, ...], wildcard: bool, have: tuple[int, ...]) -> bool:
    # The installed version has no pre-, post- or dev segment, so its local label never matters:
    # ``>=``, ``<=``, ``==``, ``!=`` ignore it (the specifier has none), and for ``>V``/``<V`` a
    # local version of V sorts above V and is excluded by both, as a comparison of the releases
    # alone also gives.
    if wildcard:
        matched = _prefix(have, len(spec)) == spec
        return matched if op == "==" else not matched
    key, spec_key = _trimmed(have), _trimmed(spec)
    if op == ">=":
        return key >= spec_key
    if op == "<=":
        return key <= spec_key
    if op == ">":
        return key > spec_key
    if op == "<":
        return key < spec_key
    if op == "==":
        return key == spec_key
    if op == "!=":
        return key != spec_key
    # ``~=V.N`` is ``>=V.N, ==V.*``.
    return key >= spec_key and _prefix(have, len(spec) - 1) == spec[:-1]


@functools.lru_cache(maxsize=4096)  # pure; the same lines recur across plugins
def contains(specifier: str, version: str) -> bool | None:
    """Whether ``version`` satisfies ``specifier``, or ``None`` when this cannot tell.

    Decides for a release version with an optional local label (``2.13.0+cpu``) against
    comma-separated clauses on release versions; an empty specifier contains every version.
    When it decides, the answer is that of
    ``SpecifierSet(specifier).contains(Version(version), prereleases=True)``.
    """
    vm = _VERSION.fullmatch(version)
    if vm is None:
        return None
    have = tuple(int(part) for part in vm.group(1).split("."))
    clauses: list[tuple[str, tuple[int, ...], bool]] = []
    for item in specifier.split(","):
        item = item.strip(" \t")
        if not item:
            continue  # packaging skips empty items, as in ">=1,"
        m = _CLAUSE.fullmatch(item)
        if m is None:
            return None
        op, release, star = m.groups()
        spec = tuple(int(part) for part in release.split("."))
        wildcard = star is not None
        if wildcard and op not in ("==", "!="):
            return None  # invalid; packaging raises
        if op == "~=" and len(spec) < 2:
            return None  # invalid; packaging raises
        clauses.append((op, spec, wildcard))
    return all(_clause_contains(op, spec, wildcard, have) for op, spec, wildcard in clauses)
