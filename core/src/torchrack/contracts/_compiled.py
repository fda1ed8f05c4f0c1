"""The published contract schemas compiled into plain Python validity checks.

:mod:`torchrack.contracts._fast` interprets a schema for every instance: each schema object is a
dictionary walk, each keyword a lookup and a call. A cold plugin scan validates every installed
manifest against the same manifest schema, so here each contract schema is translated once per
process into Python source, one function per schema object, with its constants (enum sets,
compiled patterns, property names) bound at generation time. Only a few keywords occur in the
contracts, and only those are compiled; a schema using anything else is not compiled at all
(:class:`Unsupported`), and :mod:`._fast` and jsonschema take it as before.

The answer has the same meaning as :func:`torchrack.contracts._fast.is_valid`'s, and the same rule,
soundness first: ``True`` only when jsonschema certainly finds no error and raises nothing. Every
function first refuses (``False``) any value that is not exactly a JSON type (a ``str`` subclass,
a tuple, a NaN or infinite float, a dict with a non-string key), where jsonschema's own type
checks or comparisons might judge otherwise; callers take only ``True`` and let jsonschema report
everything else, with its usual pointers and messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from torchrack.contracts._fast import DRAFT_2020_12, _equal, _Undecided

__all__ = ["Unsupported", "compile_schema"]

#: Annotations and containers that assert nothing (``format`` included: the contracts are
#: validated without a format checker, as in :mod:`._fast`).
_ANNOTATIONS = frozenset({
    "title", "description", "default", "examples", "$comment", "$schema", "$id", "deprecated",
    "readOnly", "writeOnly", "format", "$defs", "definitions",
})

#: JSON Schema type name -> the condition on ``t`` (the exact type) and ``x`` (the value).
_TYPE_TESTS = {
    "object": "t is dict",
    "array": "t is list",
    "string": "t is str",
    "boolean": "t is bool",
    "null": "x is None",
    "number": "(t is int or t is float)",
    "integer": "(t is int or (t is float and x.is_integer()))",
}


#: The same tests as expressions on a value named ``{v}`` (number and integer also finite: the
#: functions refuse a non-finite float before any keyword).
_LEAF_TYPE_TESTS = {
    "object": "type({v}) is dict",
    "array": "type({v}) is list",
    "string": "type({v}) is str",
    "boolean": "type({v}) is bool",
    "null": "{v} is None",
    "number": "(type({v}) is int or (type({v}) is float and _isfinite({v})))",
    "integer": "(type({v}) is int or (type({v}) is float and _isfinite({v}) and {v}.is_integer()))",
}

#: The keywords a leaf (inline) check may have.
_LEAF_KEYWORDS = frozenset({
    "type", "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "anyOf", "$ref",
})


class Unsupported(Exception):
    """The schema uses something this compiler does not translate; it is left uncompiled."""


def _count(key: str, v: Any) -> int:
    if type(v) is not int or v < 0:
        raise Unsupported(f"{key} = {v!r}")
    return v


def _bound(key: str, v: Any) -> int | float:
    if type(v) not in (int, float) or not math.isfinite(v):
        raise Unsupported(f"{key} = {v!r}")
    return v  # type: ignore[no-any-return]


class _Generator:
    def __init__(self, registry: Mapping[str, Any]) -> None:
        self.registry = registry
        self.names: dict[int, str] = {}  # id(schema object) -> its function's name
        self.keep: list[Any] = []  # the schema objects named, kept alive while ids are in use
        self.consts: dict[str, Any] = {}
        self.chunks: list[str] = []
        #: The one type the instance of the schema object being generated is known to have once
        #: its type test passed (its keywords' type guards are then dropped), or None.
        self.known: str | None = None

    def const(self, value: Any) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def resolve(self, ref: Any, root: Any) -> tuple[Any, Any]:
        if type(ref) is not str:
            raise Unsupported(f"$ref {ref!r}")
        uri, _, fragment = ref.partition("#")
        doc = self.registry.get(uri) if uri else root
        if doc is None or (fragment and (not fragment.startswith("/") or "%" in fragment)):
            raise Unsupported(f"$ref {ref!r}")
        node = doc
        for raw in fragment[1:].split("/") if fragment else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            if type(node) is not dict or part not in node:
                raise Unsupported(f"$ref {ref!r}")
            node = node[part]
            if type(node) is dict and "$id" in node:
                raise Unsupported(f"$ref {ref!r} enters an embedded resource")
        return node, doc

    def leaf(self, schema: Any, root: Any, var: str, visiting: frozenset[int] = frozenset()) -> str | None:
        """``schema``'s check of the value named ``var`` as one inline expression, when it only
        looks at a scalar (type, enum, const, pattern, lengths, bounds, anyOf/$ref of such),
        or None. A call per tensor-shape entry was most of a manifest's check."""
        if schema is True or schema is False:
            return str(schema)
        if type(schema) is not dict or id(schema) in visiting or "$id" in schema or "$schema" in schema:
            return None
        keys = {k for k in schema if not (type(k) is str and (k in _ANNOTATIONS or k.startswith("x-")))}
        if not keys <= _LEAF_KEYWORDS:
            return None
        visiting = visiting | {id(schema)}
        types = schema.get("type")
        names = [types] if type(types) is str else types
        if names is not None and (
            type(names) is not list or not names or any(n not in _TYPE_TESTS for n in names)
        ):
            raise Unsupported(f"type {types!r}")
        known = names[0] if names is not None and len(names) == 1 else None
        v = var
        if names is None:
            parts = [f"type({v}) in _JSON", f"(type({v}) is not float or _isfinite({v}))"]
        else:
            parts = ["(" + " or ".join(_LEAF_TYPE_TESTS[n].format(v=v) for n in names) + ")"]
        is_str = "" if known == "string" else f"type({v}) is not str or "
        for kw in sorted(keys - {"type"}):
            val = schema[kw]
            if kw == "enum":
                if type(val) is not list:
                    raise Unsupported("enum")
                if val and all(type(e) is str for e in val):
                    c = self.const(frozenset(val))
                    parts.append(f"{v} in {c}" if known == "string" else f"(type({v}) is str and {v} in {c})")
                else:
                    # The loop's name is one no checked value has (v may be "e" or "k").
                    parts.append(f"any(_equal({v}, _m) for _m in {self.const(list(val))})")
            elif kw == "const":
                parts.append(f"_equal({v}, {self.const(val)})")
            elif kw == "pattern":
                if type(val) is not str:
                    raise Unsupported("pattern")
                try:
                    compiled = re.compile(val)
                except (re.error, OverflowError, RecursionError, ValueError) as exc:
                    raise Unsupported(f"pattern {val!r}") from exc
                parts.append(f"({is_str}{self.const(compiled)}.search({v}) is not None)")
            elif kw in ("minLength", "maxLength"):
                op = ">=" if kw == "minLength" else "<="
                parts.append(f"({is_str}len({v}) {op} {_count(kw, val)})")
            elif kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[kw]
                parts.append(f"(type({v}) not in _NUMBERS or {v} {op} {_bound(kw, val)!r})")
            elif kw == "anyOf":
                if type(val) is not list or not val:
                    raise Unsupported(kw)
                subs = [self.leaf(sub, root, v, visiting) for sub in val]
                if any(sub is None for sub in subs):
                    return None
                parts.append("(" + " or ".join(f"({sub})" for sub in subs) + ")")
            elif kw == "$ref":
                target, doc = self.resolve(val, root)
                sub = self.leaf(target, doc, v, visiting)
                if sub is None:
                    return None
                parts.append(f"({sub})")
        return " and ".join(parts)

    def test(self, schema: Any, root: Any, var: str) -> str | None:
        """An expression checking the value named ``var`` against ``schema``: inline where it
        is a leaf, else a call of its function; None when it always holds."""
        expr = self.leaf(schema, root, var)
        if expr == "True":
            return None
        if expr is None:
            fn = self.function(schema, root)
            return None if fn == "_always" else f"{fn}({var})"
        return expr

    def function(self, schema: Any, root: Any) -> str:
        """The name of the function checking ``schema`` (generated on first use)."""
        if schema is True or schema is False:
            return "_always" if schema else "_never"
        if type(schema) is not dict:
            raise Unsupported(f"schema {schema!r}")
        key = id(schema)
        if key in self.names:
            return self.names[key]
        name = self.names[key] = f"_v{len(self.names)}"
        self.keep.append(schema)
        if "$schema" in schema and schema["$schema"] != DRAFT_2020_12:
            raise Unsupported(f"$schema {schema['$schema']!r}")
        if "$id" in schema and (schema is not root or self.registry.get(schema["$id"]) is not root):
            raise Unsupported("an embedded $id")
        types = schema.get("type")
        names = [types] if type(types) is str else types
        if names is not None and (
            type(names) is not list or not names or any(n not in _TYPE_TESTS for n in names)
        ):
            raise Unsupported(f"type {types!r}")
        outer = self.known
        self.known = names[0] if names is not None and len(names) == 1 else None
        body: list[str] = []
        obj: list[str] = []  # statements run only when x is a dict
        for kw, v in schema.items():
            if type(kw) is not str:
                raise Unsupported(f"keyword {kw!r}")
            if kw in _ANNOTATIONS or kw.startswith("x-") or kw == "type":
                continue
            self.keyword(kw, v, schema, root, body, obj)
        lines = [f"def {name}(x):", "    t = type(x)"]
        if names is None:
            lines.append("    if t not in _JSON or (t is float and not _isfinite(x)): return False")
        else:  # exact types only: a subclass, a tuple or any other value fails the test
            lines.append(f"    if not ({' or '.join(_TYPE_TESTS[n] for n in names)}): return False")
            if "number" in names or "integer" in names:
                lines.append("    if t is float and not _isfinite(x): return False")
        if obj:
            indent = "    "
            if self.known != "object":
                lines.append("    if t is dict:")
                indent = "        "
            lines += [indent + "for k in x:", indent + "    if type(k) is not str: return False"]
            lines += [indent + s for s in obj]
        lines += ["    " + s for s in body]
        lines.append("    return True")
        self.chunks.append("\n".join(lines))
        self.known = outer  # the enclosing schema object's keywords continue
        return name

    def guard(self, kind: str) -> str:
        """The condition prefix that limits a keyword to instances of ``kind``."""
        return "" if self.known == kind else {"string": "t is str and ", "array": "t is list and "}[kind]

    def keyword(self, kw: str, v: Any, schema: dict[str, Any], root: Any, body: list[str],
                obj: list[str]) -> None:
        if kw == "enum":
            if type(v) is not list:
                raise Unsupported("enum")
            if v and all(type(e) is str for e in v):
                body.append(f"if not (t is str and x in {self.const(frozenset(v))}): return False")
            else:
                body.append(f"if not any(_equal(x, _m) for _m in {self.const(list(v))}): return False")
        elif kw == "const":
            body.append(f"if not _equal(x, {self.const(v)}): return False")
        elif kw == "pattern":
            if type(v) is not str:
                raise Unsupported("pattern")
            try:
                compiled = re.compile(v)
            except (re.error, OverflowError, RecursionError, ValueError) as exc:
                raise Unsupported(f"pattern {v!r}") from exc
            body.append(f"if {self.guard('string')}{self.const(compiled)}.search(x) is None: return False")
        elif kw in ("minLength", "maxLength"):
            op = "<" if kw == "minLength" else ">"
            body.append(f"if {self.guard('string')}len(x) {op} {_count(kw, v)}: return False")
        elif kw in ("minItems", "maxItems"):
            op = "<" if kw == "minItems" else ">"
            body.append(f"if {self.guard('array')}len(x) {op} {_count(kw, v)}: return False")
        elif kw in ("minProperties", "maxProperties"):
            op = "<" if kw == "minProperties" else ">"
            obj.append(f"if len(x) {op} {_count(kw, v)}: return False")
        elif kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            op = {"minimum": "<", "maximum": ">", "exclusiveMinimum": "<=", "exclusiveMaximum": ">="}[kw]
            body.append(f"if (t is int or t is float) and x {op} {_bound(kw, v)!r}: return False")
        elif kw == "required":
            if type(v) is not list or not all(type(r) is str for r in v):
                raise Unsupported("required")
            if v:
                consts = [self.const(r) for r in v]
                obj.append(f"if {' or '.join(f'{c} not in x' for c in consts)}: return False")
        elif kw == "properties":
            if type(v) is not dict:
                raise Unsupported("properties")
            for prop, sub in v.items():
                check = self.test(sub, root, "e")
                if check is not None:
                    c = self.const(prop)
                    obj += [f"if {c} in x:", f"    e = x[{c}]", f"    if not ({check}): return False"]
        elif kw == "additionalProperties":
            if "patternProperties" in schema:
                raise Unsupported("additionalProperties with patternProperties")
            props = schema.get("properties", {})
            if type(props) is not dict:
                raise Unsupported("properties")
            known = self.const(frozenset(props))
            check = self.test(v, root, "e")
            if check == "False":
                obj.append(f"if not {known}.issuperset(x): return False")
            elif check is not None:
                obj.append("for k, e in x.items():")
                obj.append(f"    if k not in {known} and not ({check}): return False")
        elif kw == "propertyNames":
            check = self.test(v, root, "k")
            if check is not None:
                obj.append("for k in x:")
                obj.append(f"    if not ({check}): return False")
        elif kw == "items":
            if "prefixItems" in schema:
                raise Unsupported("items with prefixItems")
            check = self.test(v, root, "e")
            if check is not None:
                # A loop, not all() over a generator: a generator frame per element is slower.
                if self.known == "array":
                    body += ["for e in x:", f"    if not ({check}): return False"]
                else:
                    body += ["if t is list:", "    for e in x:", f"        if not ({check}): return False"]
        elif kw == "uniqueItems":
            if type(v) is not bool:
                raise Unsupported("uniqueItems")
            if v:
                body.append(f"if {self.guard('array')}not _unique(x): return False")
        elif kw in ("anyOf", "allOf"):
            if type(v) is not list or not v:
                raise Unsupported(kw)
            checks = [self.test(sub, root, "x") or "True" for sub in v]
            joined = (" or " if kw == "anyOf" else " and ").join(f"({c})" for c in checks)
            body.append(f"if not ({joined}): return False")
        elif kw == "$ref":
            target, doc = self.resolve(v, root)
            check = self.test(target, doc, "x")
            if check is not None:
                body.append(f"if not ({check}): return False")
        else:
            raise Unsupported(f"keyword {kw!r}")


def _unique(items: list[Any]) -> bool:
    """uniqueItems, decided only where it is plain: all strings (compared exactly, as jsonschema
    does) or all finite numbers (1 and 1.0 are one value, as for jsonschema and for a set), or
    else raise :class:`_Undecided` (jsonschema's rule for booleans and containers is its own)."""
    if all(type(e) is str for e in items) or all(
        type(e) is int or (type(e) is float and math.isfinite(e)) for e in items
    ):
        return len(set(items)) == len(items)
    raise _Undecided


def compile_schema(schema: Any, registry: Mapping[str, Any]) -> Callable[[Any], bool | None]:
    """A check of ``schema`` (Draft 2020-12; ``registry`` maps ``$id`` -> schema for ``$ref``s)
    answering as :func:`torchrack.contracts._fast.is_valid` does: True (certainly valid), False,
    or None (undecided). Raises :class:`Unsupported` when the schema cannot be compiled."""
    gen = _Generator(registry)
    entry = gen.function(schema, schema)
    namespace: dict[str, Any] = {
        "_JSON": frozenset({dict, list, str, int, float, bool, type(None)}), "_NUMBERS": (int, float),
        "_isfinite": math.isfinite, "_equal": _equal, "_unique": _unique,
        "_always": lambda x: True, "_never": lambda x: False, **gen.consts,
    }
    source = "\n\n".join(gen.chunks)
    exec(compile(source, "<torchrack compiled schema>", "exec"), namespace)  # noqa: S102 - our source
    check: Callable[[Any], bool] = namespace[entry]

    def is_valid(instance: Any) -> bool | None:
        try:
            return check(instance)
        except (_Undecided, RecursionError):
            return None
        except Exception:  # noqa: BLE001 - an optimisation only: jsonschema decides instead
            return None

    is_valid.source = source  # type: ignore[attr-defined]
    return is_valid
