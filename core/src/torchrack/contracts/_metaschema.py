"""The fast check that a params schema is a valid Draft 2020-12 schema (see :mod:`._fast`).

True, False or None (undecided: jsonschema decides), as the metaschema checks it with its format
checker; unknown keywords are allowed, as the metaschema allows them.
"""

from __future__ import annotations

from typing import Any

from torchrack.contracts._fast import (  # noqa: F401
    _MAX_DEPTH,
    _TYPES,
    _all,
    _check_json,
    _compile,
    _is_integer,
    _is_number,
    _Undecided,
)

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


def is_valid_params_schema(schema: Any, *, parsed_json: bool = False) -> bool | None:
    """Whether ``schema`` is a valid Draft 2020-12 schema, as jsonschema's metaschema validator
    with its format checker finds it. True: valid; False: invalid; None: undecided.

    ``parsed_json``: the caller vouches that ``schema`` is (part of) what :func:`json.loads`
    returned with NaN and Infinity refused (only dicts, lists, str, int, float, bool and None,
    no cycles; a float may be infinite, from a huge exponent, which every rule here treats as
    jsonschema does), so the walk that checks exactly that is skipped."""
    try:
        return _decide_params_schema(schema, parsed_json=parsed_json)
    except Exception:  # noqa: BLE001 - as in is_valid
        return None


def _decide_params_schema(schema: Any, *, parsed_json: bool = False) -> bool | None:
    """:func:`is_valid_params_schema`, letting an unforeseen exception through (for the tests)."""
    try:
        if not parsed_json:
            _check_json(schema)
        return _meta(schema, 0)
    except (_Undecided, RecursionError):
        return None
