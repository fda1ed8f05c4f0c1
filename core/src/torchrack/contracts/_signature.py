"""A component's params schema derived from its code, and the drift between it and a manifest.

:func:`params_schema_of` reads a factory's typed keyword parameters (or the ``params_schema`` dict
it declares as an attribute) and gives a Draft 2020-12 JSON Schema with a ``default`` per param::

    int -> {"type": "integer"}       float -> {"type": "number"}     bool / str -> boolean / string
    list[int], Sequence[int], tuple[int, ...] -> {"type": "array", "items": {"type": "integer"}}
    dict[str, X], Mapping[str, X] -> {"type": "object"}             Literal["a", "b"] -> {"enum": [...]}
    X | None, Optional[X] -> X's schema that also admits null           Any / no annotation -> {}

:func:`drift` compares a manifest's params schema with the derived one on what code can tell:
the set of params, which are required, each default, the JSON types and a ``Literal``'s values.
Constraints that code cannot express (``minimum``, ``description``, an ``enum`` on a ``str``) are
the manifest's own and never drift.
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import types
import typing
from typing import Any

from torchrack._errors import TorchrackError

_SCALARS: dict[Any, str] = {int: "integer", float: "number", bool: "boolean", str: "string", type(None): "null"}
_ARRAYS = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.MutableSequence,
           collections.abc.Set, collections.abc.Iterable, collections.abc.Collection)
_OBJECTS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


class SignatureError(TorchrackError, TypeError):
    """A factory whose params schema cannot be derived; says which param and how to fix it."""


def _json_default(value: Any, where: str) -> Any:
    if isinstance(value, (tuple, list)):
        return [_json_default(v, where) for v in value]
    if isinstance(value, (frozenset, set)):
        return sorted(_json_default(v, where) for v in value)
    if isinstance(value, dict):
        return {str(k): _json_default(v, where) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise SignatureError(
        f"{where}: default {value!r} is not JSON data; use None, a number, a string, a list or a dict"
    )


def schema_of_annotation(annotation: Any, where: str) -> dict[str, Any]:
    """The JSON Schema of one annotation (see the module docstring)."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    if annotation in _SCALARS:
        return {"type": _SCALARS[annotation]}
    if annotation is None:
        return {"type": "null"}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        branches = [schema_of_annotation(a, where) for a in args]
        if any(b == {} for b in branches):
            return {}
        if all(set(b) == {"type"} for b in branches):
            names: list[str] = []
            for b in branches:
                for t in b["type"] if isinstance(b["type"], list) else [b["type"]]:
                    if t not in names:
                        names.append(t)
            return {"type": names if len(names) > 1 else names[0]}
        nulls = [b for b in branches if b == {"type": "null"}]
        others = [b for b in branches if b != {"type": "null"}]
        if nulls and len(others) == 1:
            one = dict(others[0])
            if "enum" in one:
                one["enum"] = [*one["enum"], None]
                return one
            if "type" in one:
                t = one["type"]
                one["type"] = [*(t if isinstance(t, list) else [t]), "null"]
                return one
        return {"anyOf": branches}
    if annotation in _ARRAYS or origin in _ARRAYS:
        schema: dict[str, Any] = {"type": "array"}
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            schema["prefixItems"] = [schema_of_annotation(a, where) for a in args]
            schema["minItems"] = schema["maxItems"] = len(args)
        elif args:
            items = schema_of_annotation(args[0], where)
            if items:
                schema["items"] = items
        return schema
    if annotation in _OBJECTS or origin in _OBJECTS:
        return {"type": "object"}
    raise SignatureError(
        f"{where}: cannot derive a JSON Schema from the annotation {annotation!r}; use int, float, "
        "bool, str, list[...], dict[str, ...], Literal[...] or Optional[...], or declare a "
        "`params_schema` dict on the component"
    )


def _target(obj: Any) -> Any:
    return obj.__init__ if inspect.isclass(obj) else obj


def params_schema_of(obj: Any, who: str = "component") -> dict[str, Any]:
    """The params schema of factory ``obj``: its ``params_schema`` attribute, or derived."""
    declared = getattr(obj, "params_schema", None)
    if isinstance(declared, dict):
        return declared
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError) as exc:
        raise SignatureError(f"{who}: cannot read the signature: {exc}") from exc
    try:
        hints = typing.get_type_hints(_target(obj))
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to none
        hints = {}
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, param in sig.parameters.items():
        where = f"{who}: param {name!r}"
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            raise SignatureError(
                f"{where}: **{name} hides which params are accepted; list them as keyword "
                "parameters, or declare a `params_schema` dict on the component"
            )
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise SignatureError(f"{where}: params are passed by keyword; make it a keyword parameter")
        schema = schema_of_annotation(hints.get(name, param.annotation), where)
        if param.default is inspect.Parameter.empty:
            required.append(name)
        else:
            schema["default"] = _json_default(param.default, where)
        props[name] = schema
    out: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        out["required"] = required
    return out


def _types(schema: Any) -> set[str] | None:
    """The JSON types a schema admits, or None when that cannot be told simply."""
    if not isinstance(schema, dict):
        return None
    if "type" in schema:
        t = schema["type"]
        found = set(t) if isinstance(t, list) else {t}
    elif "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        found = {_SCALARS.get(type(v), "object" if isinstance(v, dict) else "array") for v in values}
    elif "anyOf" in schema or "oneOf" in schema:
        found = set()
        branches: list[Any] = schema.get("anyOf") or schema.get("oneOf") or []
        for branch in branches:
            sub = _types(branch)
            if sub is None:
                return None
            found |= sub
    else:
        return None
    if "number" in found:
        found.discard("integer")
    return found


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    return bool(a == b)


def _show(value: Any) -> str:
    return json.dumps(value)


def drift(manifest: dict[str, Any], code: dict[str, Any]) -> list[str]:
    """How params schema ``manifest`` differs from ``code``'s, one sentence per difference."""
    if manifest.get("properties") is None and not code.get("properties"):
        return []
    out = []
    mprops: dict[str, Any] = manifest.get("properties", {}) or {}
    cprops: dict[str, Any] = code.get("properties", {}) or {}
    for name in cprops:
        if name not in mprops:
            out.append(f"param {name!r} is accepted by the code but missing from the manifest")
    for name in mprops:
        if name not in cprops:
            out.append(f"param {name!r} is in the manifest but the code does not accept it")
    mreq, creq = set(manifest.get("required", [])), set(code.get("required", []))
    for name in sorted(cprops.keys() & mprops.keys()):
        m, c = mprops[name], cprops[name]
        if not isinstance(m, dict):
            continue
        if (name in creq) != (name in mreq):
            out.append(f"param {name!r} is {'required' if name in creq else 'optional'} in the code "
                       f"but {'required' if name in mreq else 'optional'} in the manifest")
        if "default" in c and "default" in m and not _same_value(c["default"], m["default"]):
            out.append(f"param {name!r} defaults to {_show(c['default'])} in the code but "
                       f"{_show(m['default'])} in the manifest")
        elif "default" in c and "default" not in m:
            out.append(f"param {name!r} defaults to {_show(c['default'])} in the code but has no default in the manifest")
        elif "default" in m and "default" not in c and name in creq:
            out.append(f"param {name!r} has a default in the manifest but none in the code")
        ct, mt = _types(c), _types(m)
        if ct is not None and mt is not None and ct != mt:
            out.append(f"param {name!r} is {' or '.join(sorted(ct))} in the code but "
                       f"{' or '.join(sorted(mt))} in the manifest")
        if "enum" in c and ("enum" not in m or not _same_value(sorted(map(str, c["enum"])), sorted(map(str, m["enum"])))):
            out.append(f"param {name!r} takes {_show(c['enum'])} in the code but the manifest says "
                       f"{_show(m.get('enum', 'any value'))}")
        citems, mitems = c.get("items"), m.get("items")
        if isinstance(citems, dict) and isinstance(mitems, dict):
            it_c, it_m = _types(citems), _types(mitems)
            if it_c is not None and it_m is not None and it_c != it_m:
                out.append(f"param {name!r} holds {' or '.join(sorted(it_c))} items in the code but "
                           f"{' or '.join(sorted(it_m))} in the manifest")
    return out


def merge(manifest: dict[str, Any] | None, code: dict[str, Any]) -> dict[str, Any]:
    """``code``'s schema, keeping each manifest property that does not drift from it (with its
    constraints and description) and the description of those that do."""
    if not manifest:
        return code
    out = dict(manifest)
    out["type"] = "object"
    out.setdefault("additionalProperties", False)
    mprops: dict[str, Any] = manifest.get("properties", {}) or {}
    props: dict[str, Any] = {}
    for name, c in code.get("properties", {}).items():
        m = mprops.get(name)
        single = {"properties": {name: m}, "required": [name] if name in manifest.get("required", []) else []}
        mine = {"properties": {name: c}, "required": [name] if name in code.get("required", []) else []}
        if isinstance(m, dict) and not drift(single, mine):
            props[name] = m
        else:
            props[name] = dict(c)
            if isinstance(m, dict) and "description" in m:
                props[name]["description"] = m["description"]
    out["properties"] = props
    if code.get("required"):
        out["required"] = list(code["required"])
    else:
        out.pop("required", None)
    return out
