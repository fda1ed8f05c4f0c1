"""A small, conservative validity check for JSON Schema (Draft 2020-12), without jsonschema.

Importing jsonschema costs from 0.2 s to seconds (its format module imports whatever optional
libraries are installed), and a cold plugin scan validates every manifest. Nearly every input is
valid, so the validation functions in :mod:`torchrack.contracts._schemas` first ask this module,
which only answers *whether* an instance is valid:

- ``True``: certainly valid, exactly as jsonschema would find it (no error, no exception);
- ``False``: certainly invalid;
- ``None``: undecided (a keyword not implemented here, a value of a surprising type or shape,
  anything where jsonschema might raise instead of report), and jsonschema decides.

Callers take the fast answer only when it is ``True``: the problems of an invalid input are always
jsonschema's, with their usual pointers and messages. So the rule here is soundness first: every
case not fully understood is ``None``.

The evaluation is deliberately *complete*: every keyword of a schema object is evaluated, also
after one has failed, and any undecided part makes the whole answer ``None``. jsonschema never
evaluates more than that (it stops at the first error inside ``not`` and ``oneOf``'s later
branches, and after the first valid branch of ``anyOf``, where this module stops too), so when
this module decides, jsonschema meets nothing that could raise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["is_valid"]

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

#: Nesting (schema descents, equality recursion) beyond this is undecided, and jsonschema runs
#: into whatever it runs into (a RecursionError, reported by the callers as before).
_MAX_DEPTH = 128

#: Keywords :func:`is_valid` ignores: annotations (``format`` too, as jsonschema's validators
#: here are built without a format checker) and the ``$defs``/``definitions`` containers, which
#: assert nothing and are only reached through ``$ref``.
_IGNORED = frozenset({
    "title", "description", "default", "examples", "$comment", "$schema", "$id", "deprecated",
    "readOnly", "writeOnly", "format", "$defs", "definitions",
})

_TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})


class _Undecided(Exception):
    """Raised anywhere the answer is not certain; the public functions turn it into None."""


# -- JSON values ------------------------------------------------------------------------------


def _check_json(value: Any) -> None:
    """Raise _Undecided unless ``value`` is plain JSON data: dict (str keys), list, str, int,
    finite float, bool, None, of exactly those types (no subclasses, tuples, NaN) and without
    cycles (a container shared by several parents is fine)."""
    done: set[int] = set()
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        v, leaving = stack.pop()
        if leaving:
            on_path.discard(id(v))
            done.add(id(v))
            continue
        t = type(v)
        if t is str or t is int or t is bool or v is None:
            continue
        if t is float:
            if not math.isfinite(v):
                raise _Undecided
            continue
        if t is not dict and t is not list:
            raise _Undecided
        if id(v) in on_path:
            raise _Undecided  # a cycle
        if id(v) in done:
            continue
        on_path.add(id(v))
        stack.append((v, True))
        if t is dict:
            for k in v:
                if type(k) is not str:
                    raise _Undecided
            stack.extend((c, False) for c in v.values())
        else:
            stack.extend((c, False) for c in v)


def _is_number(v: Any) -> bool:
    t = type(v)
    return t is int or t is float


def _is_finite_number(v: Any) -> bool:
    """An int (any size) or a finite float; never a bool (math.isfinite would overflow on a huge
    int)."""
    t = type(v)
    return t is int or (t is float and math.isfinite(v))


def _is_integer(v: Any) -> bool:
    """JSON Schema's integer: 1 and 1.0, never True."""
    t = type(v)
    return t is int or (t is float and v.is_integer())


def _equal(a: Any, b: Any, depth: int = 0) -> bool:
    """JSON equality: 1 == 1.0, True != 1, lists and objects compared deeply with this rule."""
    if depth > _MAX_DEPTH:
        raise _Undecided
    ta, tb = type(a), type(b)
    if ta is bool or tb is bool:
        return ta is tb and a == b
    if a is None or b is None:
        return a is b
    if ta is str or tb is str:
        return ta is tb and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if ta is list and tb is list:
        return len(a) == len(b) and all(_equal(x, y, depth + 1) for x, y in zip(a, b, strict=True))
    if ta is dict and tb is dict:
        return len(a) == len(b) and all(
            k in b and _equal(v, b[k], depth + 1) for k, v in a.items()
        )
    if ta in (list, dict, int, float) and tb in (list, dict, int, float):
        return False  # different JSON types
    raise _Undecided  # not JSON data (a tuple or a set in a schema, say)


# -- regular expressions ------------------------------------------------------------------------

#: pattern -> compiled, or None when ``re`` rejects it (re.error).
_PATTERNS: dict[str, re.Pattern[str] | None] = {}


def _compile(pattern: str) -> re.Pattern[str] | None:
    """The pattern compiled as jsonschema compiles it (``re``, no flags); None if ``re`` raises
    re.error. Any other exception (OverflowError, RecursionError) is undecided."""
    try:
        return _PATTERNS[pattern]
    except KeyError:
        pass
    try:
        compiled: re.Pattern[str] | None = re.compile(pattern)
    except re.error:
        compiled = None
    except (OverflowError, RecursionError, ValueError, MemoryError):
        raise _Undecided from None  # jsonschema would let these through
    if len(_PATTERNS) >= 1024:
        _PATTERNS.clear()
    _PATTERNS[pattern] = compiled
    return compiled


def _search(pattern: Any, text: str) -> bool:
    if type(pattern) is not str:
        raise _Undecided
    compiled = _compile(pattern)
    if compiled is None:
        raise _Undecided  # jsonschema raises re.error here
    return compiled.search(text) is not None


# -- is_valid -----------------------------------------------------------------------------------


def _limit(v: Any) -> int | float:
    """A numeric keyword value (minimum, maxLength, ...) usable as jsonschema uses it."""
    if not _is_finite_number(v):
        raise _Undecided  # NaN compares false both ways: jsonschema and this module would differ
    return v  # type: ignore[no-any-return]


def _schema_list(v: Any) -> list[Any]:
    if type(v) is not list:
        raise _Undecided
    return v


def _schema_dict(v: Any) -> dict[str, Any]:
    if type(v) is not dict:
        raise _Undecided
    return v


def _all(results: list[bool]) -> bool:
    """all() of results already computed, every one of them (no short cut, see the module)."""
    return all(results)


class _Evaluator:
    def __init__(self, registry: Mapping[str, Any]) -> None:
        self.registry = registry

    def valid(self, schema: Any, instance: Any, root: Any, depth: int) -> bool:
        if schema is True:
            return True
        if schema is False:
            return False
        if type(schema) is not dict:
            raise _Undecided
        if depth > _MAX_DEPTH:
            raise _Undecided
        if "$schema" in schema and schema["$schema"] != DRAFT_2020_12:
            raise _Undecided  # jsonschema would switch to another dialect's validator
        if "$id" in schema:
            # An embedded resource (references inside it resolve elsewhere), or a root whose id
            # might also name another resource that jsonschema knows (its metaschemas, say).
            sid = schema["$id"]
            if schema is not root or type(sid) is not str or self.registry.get(sid) is not root:
                raise _Undecided
        ok = True
        for key, value in schema.items():
            if type(key) is not str:
                raise _Undecided
            if key in _IGNORED or key.startswith("x-"):
                continue
            check = _KEYWORDS.get(key)
            if check is None:
                raise _Undecided
            # No short cut: a later keyword might be one jsonschema raises on.
            if not check(self, value, instance, schema, root, depth + 1):
                ok = False
        return ok

    def resolve(self, ref: Any, root: Any) -> tuple[Any, Any]:
        """(target schema, its document) of a local JSON-pointer ref or a registry id."""
        if type(ref) is not str:
            raise _Undecided
        uri, _, fragment = ref.partition("#")
        if uri:
            doc = self.registry.get(uri)
            if doc is None:
                raise _Undecided
        else:
            doc = root
        if fragment == "":
            return doc, doc
        if not fragment.startswith("/") or "%" in fragment:
            raise _Undecided  # an anchor, or a percent-encoded pointer
        node = doc
        for raw in fragment[1:].split("/"):
            part = raw.replace("~1", "/").replace("~0", "~")
            if type(node) is dict:
                if part not in node:
                    raise _Undecided
                node = node[part]
            elif type(node) is list:
                if not (part.isascii() and part.isdigit()) or part != str(int(part)):
                    raise _Undecided
                if int(part) >= len(node):
                    raise _Undecided
                node = node[int(part)]
            else:
                raise _Undecided
            if type(node) is dict and "$id" in node:
                raise _Undecided
        return node, doc


# Each keyword check: (evaluator, keyword value, instance, schema object, root, depth) -> bool.


def is_valid(schema: Any, instance: Any, registry: Mapping[str, Any]) -> bool | None:
    """Whether ``instance`` is valid against the Draft 2020-12 ``schema``, as jsonschema finds it.

    ``registry`` maps the ``$id`` of each schema that a ``$ref`` may name to that schema (a local
    ``#/...`` pointer resolves inside the document it appears in). True: valid; False: invalid;
    None: undecided, ask jsonschema.
    """
    try:
        return _decide(schema, instance, registry)
    except Exception:  # noqa: BLE001 - an optimisation only: whatever it did not foresee,
        return None  # jsonschema decides (and reports, or raises, as it always did)


def _decide(schema: Any, instance: Any, registry: Mapping[str, Any]) -> bool | None:
    """:func:`is_valid`, letting an unforeseen exception through (for the tests)."""
    try:
        _check_json(instance)
        return _Evaluator(registry).valid(schema, instance, schema, 0)
    except (_Undecided, RecursionError):
        return None


# -- is_valid_params_schema ---------------------------------------------------------------------

#: Keywords whose value must be a schema.


#: keyword -> its check; filled by :mod:`torchrack.contracts._keywords` (imported below).
_KEYWORDS: dict[str, Any] = {}

from torchrack.contracts import _keywords  # noqa: E402,F401 - registers the keyword checks
