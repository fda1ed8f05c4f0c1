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

__all__ = ["is_valid", "is_valid_params_schema"]

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


def _kw_type(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    names = [value] if type(value) is str else _schema_list(value)
    if not names or not all(type(n) is str and n in _TYPES for n in names):
        raise _Undecided
    return any(_has_type(inst, n) for n in names)


def _has_type(inst: Any, name: str) -> bool:
    t = type(inst)
    if name == "object":
        return t is dict
    if name == "array":
        return t is list
    if name == "string":
        return t is str
    if name == "boolean":
        return t is bool
    if name == "null":
        return inst is None
    if name == "number":
        return _is_number(inst)
    return _is_integer(inst)  # "integer"


def _kw_enum(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    options = _schema_list(value)
    found = False
    for option in options:  # every option compared, so that a surprising one is undecided
        if _equal(option, inst):
            found = True
    return found


def _kw_const(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    return _equal(inst, value)


def _kw_required(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    names = _schema_list(value)
    if not all(type(n) is str for n in names):
        raise _Undecided
    if type(inst) is not dict:
        return True
    return all(n in inst for n in names)


def _kw_properties(
    ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int
) -> bool:
    props = _schema_dict(value)
    if type(inst) is not dict:
        return True
    return _all([ev.valid(sub, inst[k], root, depth) for k, sub in props.items() if k in inst])


def _kw_pattern_properties(
    ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int
) -> bool:
    patterns = _schema_dict(value)
    if type(inst) is not dict:
        return True
    return _all([
        ev.valid(sub, v, root, depth)
        for pattern, sub in patterns.items()
        for k, v in inst.items()
        if _search(pattern, k)
    ])


def _additional_keys(inst: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """The keys neither ``properties`` nor ``patternProperties`` cover. jsonschema matches the
    patterns joined with "|"; matching them one by one must agree, or the answer is undecided."""
    props = _schema_dict(schema.get("properties", {}))
    patterns = list(_schema_dict(schema.get("patternProperties", {})))
    if not all(type(p) is str for p in patterns):
        raise _Undecided
    joined = "|".join(patterns)
    extra = []
    for key in inst:
        if key in props:
            continue
        if patterns:
            # An empty joined pattern (patternProperties {"": ...}) matches nothing there.
            by_joined = bool(joined) and _search(joined, key)
            if by_joined != any(_search(p, key) for p in patterns):
                raise _Undecided
            if by_joined:
                continue
        extra.append(key)
    return extra


def _kw_additional_properties(
    ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int
) -> bool:
    if type(value) is not bool and type(value) is not dict:
        raise _Undecided
    if type(inst) is not dict:
        return True
    extra = _additional_keys(inst, schema)
    if value is True:
        return True
    if value is False:
        return not extra
    return _all([ev.valid(value, inst[k], root, depth) for k in extra])


def _kw_property_names(
    ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int
) -> bool:
    if type(inst) is not dict:
        return True
    return _all([ev.valid(value, k, root, depth) for k in inst])


def _kw_pattern(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    if type(value) is not str:
        raise _Undecided
    if type(inst) is not str:
        return True
    return _search(value, inst)


def _kw_min_length(
    ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int
) -> bool:
    limit = _limit(value)
    return type(inst) is not str or len(inst) >= limit


def _kw_max_length(
    ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int
) -> bool:
    limit = _limit(value)
    return type(inst) is not str or len(inst) <= limit


def _kw_minimum(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    limit = _limit(value)
    return not _is_number(inst) or inst >= limit


def _kw_maximum(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    limit = _limit(value)
    return not _is_number(inst) or inst <= limit


def _kw_exclusive_minimum(
    ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int
) -> bool:
    limit = _limit(value)
    return not _is_number(inst) or inst > limit


def _kw_exclusive_maximum(
    ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int
) -> bool:
    limit = _limit(value)
    return not _is_number(inst) or inst < limit


def _kw_multiple_of(
    ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int
) -> bool:
    if not _is_finite_number(value) or value <= 0:
        raise _Undecided
    if not _is_number(inst):
        return True
    try:
        if type(value) is float:
            # jsonschema divides (0.3 / 0.1 is 2.9999999999999996: not a multiple) and, when the
            # quotient overflows, switches to exact fractions: undecided here.
            quotient = inst / value
            if not math.isfinite(quotient):
                raise _Undecided
            return bool(quotient.is_integer())
        return bool(inst % value == 0)
    except OverflowError:  # a huge int meeting a float: jsonschema raises too
        raise _Undecided from None


def _kw_items(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    if type(value) is not bool and type(value) is not dict:
        raise _Undecided
    prefix = len(_schema_list(schema.get("prefixItems", [])))
    if type(inst) is not list or len(inst) <= prefix:
        return True
    return _all([ev.valid(value, item, root, depth) for item in inst[prefix:]])


def _kw_prefix_items(
    ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int
) -> bool:
    subs = _schema_list(value)
    if type(inst) is not list:
        return True
    return _all([ev.valid(sub, item, root, depth) for sub, item in zip(subs, inst, strict=False)])


def _kw_min_items(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    limit = _limit(value)
    return type(inst) is not list or len(inst) >= limit


def _kw_max_items(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    limit = _limit(value)
    return type(inst) is not list or len(inst) <= limit


def _kw_unique_items(
    ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int
) -> bool:
    if type(value) is not bool:
        raise _Undecided
    if not value or type(inst) is not list:
        return True
    if len({_canonical(item, 0) for item in inst}) == len(inst):
        return True
    # Duplicates. jsonschema sorts the items and compares neighbours; with lists among them,
    # Python's ordering (True == 1) can keep duplicates apart, and it misses them.
    if any(type(item) is list for item in inst):
        raise _Undecided
    return False


def _canonical(v: Any, depth: int) -> Any:
    """A hashable key, equal for two values exactly when they are equal as JSON (1 and 1.0 are,
    True and 1 are not), for finding duplicates in linear time."""
    if depth > _MAX_DEPTH:
        raise _Undecided
    t = type(v)
    if t is bool:
        return ("b", v)
    if t is int or t is float:
        return ("n", v)  # Python hashes equal numbers alike: 1, 1.0
    if t is str:
        return ("s", v)
    if v is None:
        return ("z",)
    if t is list:
        return ("l", tuple(_canonical(x, depth + 1) for x in v))
    if t is dict:
        return ("d", frozenset((k, _canonical(x, depth + 1)) for k, x in v.items()))
    raise _Undecided


def _kw_all_of(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    return _all([ev.valid(sub, inst, root, depth) for sub in _schema_list(value)])


def _kw_any_of(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    # In order, up to the first valid branch, as jsonschema evaluates them.
    return any(ev.valid(sub, inst, root, depth) for sub in _schema_list(value))


def _kw_one_of(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    return [ev.valid(sub, inst, root, depth) for sub in _schema_list(value)].count(True) == 1


def _kw_not(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    return not ev.valid(value, inst, root, depth)


def _kw_ref(ev: _Evaluator, value: Any, inst: Any, schema: Any, root: Any, depth: int) -> bool:
    target, doc = ev.resolve(value, root)
    return ev.valid(target, inst, doc, depth)


_KEYWORDS: dict[str, Any] = {
    "type": _kw_type,
    "enum": _kw_enum,
    "const": _kw_const,
    "required": _kw_required,
    "properties": _kw_properties,
    "patternProperties": _kw_pattern_properties,
    "additionalProperties": _kw_additional_properties,
    "propertyNames": _kw_property_names,
    "pattern": _kw_pattern,
    "minLength": _kw_min_length,
    "maxLength": _kw_max_length,
    "minimum": _kw_minimum,
    "maximum": _kw_maximum,
    "exclusiveMinimum": _kw_exclusive_minimum,
    "exclusiveMaximum": _kw_exclusive_maximum,
    "multipleOf": _kw_multiple_of,
    "items": _kw_items,
    "prefixItems": _kw_prefix_items,
    "minItems": _kw_min_items,
    "maxItems": _kw_max_items,
    "uniqueItems": _kw_unique_items,
    "allOf": _kw_all_of,
    "anyOf": _kw_any_of,
    "oneOf": _kw_one_of,
    "not": _kw_not,
    "$ref": _kw_ref,
}


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
_META_SCHEMA = frozenset({
    "items", "contains", "additionalProperties", "propertyNames", "if", "then", "else", "not",
})
#: Keywords whose value must be an object of schemas.
_META_SCHEMA_MAP = frozenset({"properties", "$defs", "dependentSchemas", "definitions"})
#: Keywords whose value must be a non-empty array of schemas.
_META_SCHEMA_ARRAY = frozenset({"prefixItems", "allOf", "anyOf", "oneOf"})
_META_NUMBER = frozenset({"maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"})
_META_COUNT = frozenset({
    "maxLength", "minLength", "maxItems", "minItems", "maxContains", "minContains",
    "maxProperties", "minProperties",
})
_META_BOOL = frozenset({"uniqueItems", "deprecated", "readOnly", "writeOnly"})
#: ``format``'s value is only type-checked (``{"type": "string"}``); the format checker never
#: sees it, so it is decided here.
_META_STRING = frozenset({"title", "description", "$comment", "format"})
_META_ARRAY = frozenset({"enum", "examples"})
_META_ANY = frozenset({"const", "default"})
#: Keywords left to jsonschema: URI formats (checked with optional libraries), anchors,
#: vocabularies, the content and unevaluated vocabularies.
_META_UNDECIDED = frozenset({
    "$id", "$schema", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
    "$recursiveRef", "$recursiveAnchor", "contentEncoding", "contentMediaType", "contentSchema",
    "unevaluatedItems", "unevaluatedProperties",
})
_META_KNOWN = (
    _META_SCHEMA | _META_SCHEMA_MAP | _META_SCHEMA_ARRAY | _META_NUMBER | _META_COUNT | _META_BOOL
    | _META_STRING | _META_ARRAY | _META_ANY | _META_UNDECIDED
    | {"type", "multipleOf", "pattern", "patternProperties", "required", "dependentRequired",
       "dependencies"}
)


def _is_regex(v: str) -> bool:
    """The format checker's "regex": ``re`` compiles it (re.error: not a regex)."""
    return _compile(v) is not None


def _string_array(v: Any) -> bool:
    """An array of unique strings (a non-string item already makes it invalid, so uniqueness is
    only compared between strings, where jsonschema's comparison is exact)."""
    return type(v) is list and all(type(s) is str for s in v) and len(set(v)) == len(v)


def _meta_keyword(key: str, v: Any, depth: int) -> bool:
    if key in _META_SCHEMA:
        return _meta(v, depth)
    if key in _META_SCHEMA_MAP:
        if type(v) is not dict:
            return False
        return _all([_meta(sub, depth) for sub in v.values()])
    if key in _META_SCHEMA_ARRAY:
        if type(v) is not list:
            return False
        return _all([_meta(sub, depth) for sub in v]) and len(v) >= 1
    if key in _META_NUMBER:
        return _is_number(v)
    if key in _META_COUNT:
        return _is_integer(v) and v >= 0
    if key in _META_BOOL:
        return type(v) is bool
    if key in _META_STRING:
        return type(v) is str
    if key in _META_ARRAY:
        return type(v) is list
    if key in _META_ANY:
        return True
    if key == "type":
        if type(v) is str:
            return v in _TYPES
        return (
            type(v) is list and len(v) >= 1 and all(type(n) is str and n in _TYPES for n in v)
            and len(set(v)) == len(v)
        )
    if key == "multipleOf":
        return _is_number(v) and v > 0
    if key == "pattern":
        return type(v) is str and _is_regex(v)
    if key == "patternProperties":
        if type(v) is not dict:
            return False
        keys_ok = _all([_is_regex(k) for k in v])
        return _all([_meta(sub, depth) for sub in v.values()]) and keys_ok
    if key == "required":
        return _string_array(v)
    if key == "dependentRequired":
        return type(v) is dict and all(_string_array(a) for a in v.values())
    if key == "dependencies":
        if type(v) is not dict:
            return False
        return _all([
            _meta(sub, depth) if type(sub) in (dict, bool) else _string_array(sub)
            for sub in v.values()
        ])
    raise _Undecided  # in _META_UNDECIDED


def _meta(schema: Any, depth: int) -> bool:
    if type(schema) is bool:
        return True
    if type(schema) is not dict:
        return False
    if depth > _MAX_DEPTH:
        raise _Undecided
    ok = True
    for key, value in schema.items():
        if key not in _META_KNOWN:
            continue  # the metaschema allows any other keyword, with any value
        if not _meta_keyword(key, value, depth + 1):
            ok = False  # and go on: a later keyword may be undecided
    return ok


def is_valid_params_schema(schema: Any) -> bool | None:
    """Whether ``schema`` is a valid Draft 2020-12 schema, as jsonschema's metaschema validator
    with its format checker finds it. True: valid; False: invalid; None: undecided."""
    try:
        return _decide_params_schema(schema)
    except Exception:  # noqa: BLE001 - as in is_valid
        return None


def _decide_params_schema(schema: Any) -> bool | None:
    """:func:`is_valid_params_schema`, letting an unforeseen exception through (for the tests)."""
    try:
        _check_json(schema)
        return _meta(schema, 0)
    except (_Undecided, RecursionError):
        return None
