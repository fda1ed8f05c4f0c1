"""The keyword checks of :mod:`torchrack.contracts._fast`, one function per JSON Schema keyword.

Each returns True (the keyword holds), False (it fails) or raises ``_Undecided``.
"""

from __future__ import annotations

import math
from typing import Any

from torchrack.contracts import _fast
from torchrack.contracts._fast import (  # noqa: F401
    _MAX_DEPTH,
    _TYPES,
    _all,
    _equal,
    _Evaluator,
    _is_finite_number,
    _is_integer,
    _is_number,
    _limit,
    _schema_dict,
    _schema_list,
    _search,
    _Undecided,
)


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


_fast._KEYWORDS.update({
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
})
