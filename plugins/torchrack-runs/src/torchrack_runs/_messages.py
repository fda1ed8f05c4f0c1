"""Config problems in plain sentences: :class:`ConfigError`, jsonschema's errors rewritten.

Each jsonschema error becomes one sentence per offending value (unknown keys with did-you-mean,
missing keys with how to add them, types, bounds, patterns), and each problem names where its
value came from: the line of the file that holds it (:func:`~torchrack_runs._values.key_lines`),
or the ``--set KEY=VALUE`` that gave it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torchrack import TorchrackError

from torchrack_runs._toml import toml_loads
from torchrack_runs._values import key_lines, short_pointer, show_value, type_name

if TYPE_CHECKING:
    from torchrack_runs._overrides import Override

#: At most this many problems are listed in one :class:`ConfigError` (the count says the rest).
MAX_PROBLEMS = 50


class ConfigError(TorchrackError, ValueError):
    """A config that cannot be used; ``problems`` holds one line per offending value.

    ``source`` is the config file, or ``--set`` when every problem comes from an override.
    """

    def __init__(self, source: str, problems: list[str], *, where: str = "in the config") -> None:
        self.source = source
        self.problems = problems
        shown = problems[:MAX_PROBLEMS]
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"... and {len(problems) - MAX_PROBLEMS} more")
        lines = "\n".join(f"  {p}" for p in shown)
        super().__init__(f"{source}: {len(problems)} problem(s) {where}:\n{lines}")


def dotted(path: Sequence[str | int]) -> str:
    """``("augment", 0, "params")`` -> ``augment[0].params``, as ``runs show`` prints keys."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


@dataclass
class Problem:
    """One problem: the pointer shown, the sentence, and the path its origin is looked up by."""

    path: tuple[str | int, ...]
    message: str
    target: tuple[str | int, ...] | None = None

    @property
    def where(self) -> tuple[str | int, ...]:
        return self.path if self.target is None else self.target


@dataclass
class Origin:
    """Where the values of a config came from: a file's text, and the ``--set`` overrides."""

    text: str | None = None
    is_json: bool = False
    overrides: Sequence[Override] = ()
    _lines: dict[tuple[str, ...], int] | None = None

    def override_of(self, target: Sequence[str | int]) -> Override | None:
        for ov in reversed(self.overrides):  # the last override of a key wins
            if ov.covers(target):
                return ov
        return None

    def line_of(self, target: Sequence[str | int]) -> int | None:
        if self.text is None or not target:
            return None
        if self._lines is None:
            self._lines = key_lines(self.text, is_json=self.is_json)
        return self._lines.get(tuple(str(p) for p in target))

    def where(self, target: Sequence[str | int]) -> str:
        ov = self.override_of(target)
        if ov is not None:
            return f" (from {ov.shown})"
        line = self.line_of(target)
        return f" (line {line})" if line else ""


def raise_problems(source: str, problems: list[Problem], origin: Origin) -> None:
    lines = [f"{short_pointer(p.path)}: {p.message}{origin.where(p.where)}" for p in problems]
    from_set = sum(origin.override_of(p.where) is not None for p in problems)
    if from_set == len(problems):
        raise ConfigError("--set", lines, where=f"in the overrides of {source}")
    if from_set:
        raise ConfigError(source, lines, where="in the config and its --set overrides")
    raise ConfigError(source, lines)


_TYPES = {"integer": "an integer", "number": "a number", "string": "a string",
          "boolean": "a boolean (true or false)", "object": "a table", "array": "a list",
          "null": "null"}
_COMPARISONS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
_NAME_PATTERN = "^([A-Za-z0-9][A-Za-z0-9._-]*:)?[a-z][a-z0-9_]*$"


def close_match(word: Any, candidates: Sequence[str]) -> str | None:
    """The candidate that ``word`` is most likely a typo of."""
    if not isinstance(word, str) or not candidates or len(word) > 200:
        return None
    lowered = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def _found(value: Any) -> str:
    if value is None or isinstance(value, (dict, list, tuple)):
        return show_value(value)
    return f"{show_value(value)} ({type_name(value)})"


def _types(expected: Any) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    return " or ".join(_TYPES.get(str(t), str(t)) for t in names)


def _number_noun(schema: Any) -> str:
    types = schema.get("type") if isinstance(schema, dict) else None
    types = [types] if isinstance(types, str) else list(types or [])
    return "an integer" if "integer" in types and "number" not in types else "a number"


def _describe(schema: Any) -> str:
    """A schema in words, for ``anyOf`` alternatives: ``a number >= 0``, ``a list``, ``null``."""
    if not isinstance(schema, dict):
        return "anything" if schema is True else "nothing"
    if "enum" in schema:
        return "one of " + ", ".join(show_value(v) for v in schema["enum"])
    if "const" in schema:
        return show_value(schema["const"])
    text = _types(schema["type"]) if "type" in schema else "a value"
    bounds = [f"{op} {show_value(schema[kw])}" for kw, op in _COMPARISONS.items() if kw in schema]
    if bounds:
        text += " " + " and ".join(bounds)
    items = schema.get("items")
    if isinstance(items, dict) and "type" in items:
        text += " of " + _types(items["type"]).replace("an integer", "integers").replace(
            "a number", "numbers").replace("a string", "strings")
    return text


def _unquote_hint(value: Any, expected: Any) -> str:
    """`` (write it without quotes: 3)`` when a string ``value`` is what was expected, quoted."""
    names = {expected} if isinstance(expected, str) else set(expected)
    if not isinstance(value, str) or len(value) > 40 or not names & {"integer", "number", "boolean"}:
        return ""
    try:
        parsed = toml_loads(f"v = {value.strip()}").get("v")
    except (ValueError, RecursionError):
        return ""
    fits = (("boolean" in names and isinstance(parsed, bool))
            or (not isinstance(parsed, bool) and (
                ("integer" in names and isinstance(parsed, int))
                or ("number" in names and isinstance(parsed, (int, float))))))
    return f" (write it without quotes: {value.strip()})" if fits else ""


@dataclass(frozen=True)
class Owner:
    """The component whose params are validated (``version`` None: no ``torchrack info`` hint)."""

    kind: str
    name: str
    version: str | None = None

    @property
    def suffix(self) -> str:
        if self.version is None:
            return ""
        return f" ({self.kind} {self.name} {self.version}; see `torchrack info {self.name}`)"


Suggest = Callable[[tuple[str | int, ...], str, Sequence[str]], str | None]


def _add_hint(path: tuple[str | int, ...], key: str, schema: Any) -> str:
    """How to add the missing ``key`` at ``path``, in TOML: `` (add a [run] table)``."""
    if not isinstance(schema, dict):
        return ""
    where = f" to [{dotted(path)}]" if path else ""
    if "const" in schema:
        return f" (add {key} = {show_value(schema['const'])}{where})"
    if "$ref" in schema or schema.get("type") == "object":
        if "$ref" in schema:  # a component: its name is what it needs
            return f" (add a [{dotted((*path, key))}] table with name = \"...\")"
        return f" (add a [{dotted((*path, key))}] table)"
    return f" (add {key} = ...{where})"


def _explain(err: Any, base: tuple[str | int, ...], owner: Owner | None,
             suggest: Suggest | None) -> Iterator[Problem]:
    """One jsonschema error as plain sentences (one per unknown or missing key)."""
    path = (*base, *err.absolute_path)
    kw, expected, value, schema = err.validator, err.validator_value, err.instance, err.schema
    at_params = owner is not None and path == base
    noun = "param" if at_params else "key"
    of = f" of {owner.kind} {owner.name}" if at_params and owner is not None else ""
    tail = "" if at_params or owner is None else owner.suffix
    if kw == "additionalProperties" and expected is False and isinstance(value, dict):
        props = schema.get("properties", {}) if isinstance(schema, dict) else {}
        known = [str(k) for k in props]
        patterns = list(schema.get("patternProperties", {})) if isinstance(schema, dict) else []
        for key in value:
            if key in props or any(re.search(p, str(key)) for p in patterns):
                continue
            guess = close_match(key, known)
            if guess is None and suggest is not None:
                guess = suggest(path, str(key), known)
            mean = f" (did you mean {guess!r}?)" if guess else ""
            listed = (f"known {noun}s: {', '.join(known)}" if known
                      else ("it takes no params" if at_params else "no keys are allowed here"))
            yield Problem(path, f"unknown {noun} {show_value(str(key))}{of}{mean}; {listed}{tail}",
                           (*path, key))
    elif kw == "anyOf" and isinstance(value, dict) and isinstance(expected, list) and expected and all(
            isinstance(alt, dict) and set(alt) == {"required"} for alt in expected):
        # params that are alternatives (the checkpoint backbone's path or run)
        options = " or ".join(" and ".join(repr(k) for k in alt["required"]) for alt in expected)
        yield Problem(path, f"give {options}{of}{tail}")
    elif kw == "required" and isinstance(value, dict):
        props = schema.get("properties", {}) if isinstance(schema, dict) else {}
        for key in expected:
            if key not in value:
                fix = "" if owner is not None else _add_hint(path, key, props.get(key))
                yield Problem(path, f"missing {noun} {key!r}{of}{fix}{tail}")
    elif kw == "type":
        yield Problem(path, f"expected {_types(expected)}, found {_found(value)}"
                             f"{_unquote_hint(value, expected)}{tail}")
    elif kw == "enum":
        guess = close_match(value, [v for v in expected if isinstance(v, str)])
        mean = f" (did you mean {guess!r}?)" if guess else ""
        options = ", ".join(show_value(v) for v in expected)
        yield Problem(path, f"expected one of {options}, found {_found(value)}{mean}{tail}")
    elif kw == "const":
        yield Problem(path, f"expected {show_value(expected)}, found {_found(value)}{tail}")
    elif kw in _COMPARISONS:
        yield Problem(path, f"expected {_number_noun(schema)} {_COMPARISONS[kw]} "
                             f"{show_value(expected)}, found {show_value(value)}{tail}")
    elif kw in ("minLength", "maxLength") and isinstance(value, str):
        if kw == "minLength" and expected == 1:
            want = "a non-empty string"
        else:
            want = f"a string of {'at least' if kw == 'minLength' else 'at most'} {expected} characters"
        yield Problem(path, f"expected {want}, found {show_value(value)} "
                             f"({len(value)} characters){tail}")
    elif kw in ("minItems", "maxItems") and isinstance(value, (list, tuple)):
        exact = isinstance(schema, dict) and schema.get("minItems") == schema.get("maxItems")
        bound = "exactly" if exact else ("at least" if kw == "minItems" else "at most")
        yield Problem(path, f"expected a list of {bound} {expected} item{'' if expected == 1 else 's'}"
                             f", found {len(value)}{tail}")
    elif kw == "pattern" and isinstance(value, str):
        if expected == _NAME_PATTERN:
            want = ("a component name: the registered `name` or `dist:name` (lowercase letters, "
                    "digits and _; never a path or a module)")
        else:
            want = f"a string matching the pattern {expected!r}"
        yield Problem(path, f"expected {want}, found {show_value(value)}{tail}")
    elif kw in ("anyOf", "oneOf") and isinstance(expected, list) and len(err.context) >= len(expected):
        # A branch of the value's own type that failed deeper says more than the whole list.
        deeper = [e for e in err.context if e.validator != "type"]
        if deeper:
            import jsonschema

            yield from _explain(jsonschema.exceptions.best_match(deeper), base, owner, suggest)
            return
        alternatives = [_describe(s) for s in expected]
        listed = (alternatives[0] if len(alternatives) == 1
                  else ", ".join(alternatives[:-1]) + " or " + alternatives[-1])
        yield Problem(path, f"expected {listed}, found {_found(value)}{tail}")
    elif kw == "uniqueItems":
        yield Problem(path, f"expected a list without repeated items, found {show_value(value)}{tail}")
    elif kw == "multipleOf":
        yield Problem(path, f"expected a multiple of {show_value(expected)}, found "
                             f"{show_value(value)}{tail}")
    else:
        message = str(err.message)
        if len(message) > 200:
            message = message[:200] + "..."
        yield Problem(path, message + tail)


def schema_problems(validator: Any, instance: Any, base: tuple[str | int, ...] = (),
                     owner: Owner | None = None, suggest: Suggest | None = None) -> list[Problem]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    seen: set[tuple[tuple[str, ...], str]] = set()
    out: list[Problem] = []
    for err in errors:  # ``required`` gives one error per missing key, each naming them all
        for p in _explain(err, base, owner, suggest):
            key = (tuple(str(x) for x in p.path), p.message)
            if key not in seen:
                seen.add(key)
                out.append(p)
    return out



def params_problems(schema: dict[str, Any], params: Any, base: tuple[str | int, ...],
                     owner: Owner) -> list[Problem]:
    from torchrack.contracts import validate_params

    if not validate_params(schema, params):  # valid: decided without importing jsonschema
        return []
    import jsonschema

    return schema_problems(jsonschema.Draft202012Validator(schema), params, base, owner)
