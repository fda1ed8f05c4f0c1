"""Experiment configs: read (TOML or JSON), override (``--set``), validate, resolve statically.

Static resolution checks the config against the experiment-config schema, finds every component
in the registry (existence, ``dist:name``, version constraint) and validates its params against
the params schema from its manifest. It imports neither torch nor any plugin. Every problem is
reported at once, each with the JSON pointer of the offending value, what was expected and what
was found, and where the value came from: its line in the file, or the ``--set KEY=VALUE`` that
gave it. Values that a schema cannot refuse (NaN, infinity, integers beyond 64 bits, nesting
deeper than :data:`~torchrack_runs._values.MAX_DEPTH`) are refused by
:func:`~torchrack_runs._values.check_values`, for files and ``--set`` values alike.
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchrack import TorchrackError
from torchrack.contracts import load_schema, params_with_defaults
from torchrack.plugins import ComponentInfo, Registry

from torchrack_runs._optim import OPTIMIZERS, SCHEDULERS
from torchrack_runs._values import (
    INT64_MAX,
    INT64_MIN,
    MAX_DEPTH,
    check_values,
    key_lines,
    sanitized,
    short_pointer,
    show_value,
    type_name,
)

DEFAULT_OPTIMIZER: dict[str, Any] = {"name": "sgd", "params": {"lr": 0.1, "momentum": 0.9}}
DEFAULT_SCHEDULER: dict[str, Any] = {"name": "constant", "params": {}}

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


# -- reading ---------------------------------------------------------------------------------------


def _tomllib() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib


def _toml_loads(text: str) -> dict[str, Any]:
    data: dict[str, Any] = _tomllib().loads(text)
    return data


_LONG_INT = re.compile(r"[0-9][0-9_]{4299,}")
_INT64_RANGE = f"from {INT64_MIN} to {INT64_MAX}"


def _digits_message(text: str) -> str:
    """What to say when the parser refused an integer of more than 4300 digits in ``text``."""
    match = _LONG_INT.search(text)
    digits = len(match.group().replace("_", "")) if match else 4301
    return (f"an integer of {digits} digits: integers must fit in 64 bits ({_INT64_RANGE}); "
            "write a smaller number")


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _deep_line(text: str, toml: bool) -> int | None:
    """The line where brackets first nest deeper than :data:`MAX_DEPTH` (strings skipped)."""
    depth, i, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return _line_at(text, i)
        elif c in "]}":
            depth -= 1
        elif c == '"' or (toml and c == "'"):
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" and c == '"' else 1
            i = j
        elif toml and c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        i += 1
    return None


def _too_deep_message(text: str, toml: bool) -> str:
    line = _deep_line(text, toml)
    where = f"line {line}: " if line else ""
    return (f"{where}nested too deeply to be read: a config is at most {MAX_DEPTH} levels of "
            "tables and lists")


def _parse_file(path: Path) -> tuple[dict[str, Any], str]:
    """``path``'s config and its text; every failure is a :class:`ConfigError` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"cannot read the file: not UTF-8 text ({exc.reason} at "
                                      f"byte {exc.start})"]) from None
    is_json = path.suffix.lower() == ".json"
    try:
        data = json.loads(text) if is_json else _toml_loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(str(path), [f"line {exc.lineno}, column {exc.colno}: {exc.msg}"]) from None
    except RecursionError:
        raise ConfigError(str(path), [_too_deep_message(text, toml=not is_json)]) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError, or the 4300-digit limit of int()
        if not is_json and isinstance(exc, _tomllib().TOMLDecodeError):
            raise ConfigError(str(path), [f"invalid TOML: {exc}"]) from None
        if "digits" in str(exc):
            match = _LONG_INT.search(text)
            where = f"line {_line_at(text, match.start())}: " if match else ""
            raise ConfigError(str(path), [where + _digits_message(text)]) from None
        raise ConfigError(str(path), [f"invalid {'JSON' if is_json else 'TOML'}: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), ["the top level must be a table/object"])
    deep = [p for p in check_values(data) if p.kind == "too-deep"]
    if deep:  # refused here: copying or validating such a tree could exhaust the stack
        origin = _Origin(text=text, is_json=is_json)
        raise ConfigError(str(path), [f"{p}{origin.where(p.path)}" for p in deep])
    return data, text


def read_config(path: str | Path) -> dict[str, Any]:
    """Parse a ``.toml`` or ``.json`` config file; errors name the file and line."""
    return _parse_file(Path(path))[0]


# -- overrides -------------------------------------------------------------------------------------


class _OverrideProblem(Exception):
    def __init__(self, *messages: str) -> None:
        super().__init__(messages[0])
        self.messages = list(messages)


@dataclass(frozen=True)
class _Override:
    """One applied ``--set``: the item as given, the path it set, the tables it created."""

    item: str
    path: tuple[str | int, ...]
    created: tuple[tuple[str | int, ...], ...] = ()

    @property
    def shown(self) -> str:
        return f"--set {_show_item(self.item)}"

    def covers(self, target: Sequence[str | int]) -> bool:
        """Whether ``target`` (a path) was given by this override."""
        want = tuple(str(p) for p in target)
        for path in (self.path, *self.created):
            have = tuple(str(p) for p in path)
            if want[:len(have)] == have:
                return True
        return False


def _show_item(item: str, limit: int = 80) -> str:
    """``KEY=VALUE`` quoted for a shell, shortened when long."""
    if len(item) > limit:
        return shlex.quote(item[:limit]) + f"...({len(item)} characters)"
    return shlex.quote(item)


def _dotted(path: Sequence[str | int]) -> str:
    """``("augment", 0, "params")`` -> ``augment[0].params``, as ``runs show`` prints keys."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


_SEGMENT = re.compile(r"([^\[\]]*)((?:\[[^\[\]]*\])*)")
_INDEX = re.compile(r"[0-9]{1,18}")


def _parse_key(key: str) -> list[tuple[str, bool]]:
    """``augment[0].params.p`` or ``augment.0.params.p`` -> ``[(name, is_bracketed), ...]``."""
    parts: list[tuple[str, bool]] = []
    for seg in key.split("."):
        seg = seg.strip()
        m = _SEGMENT.fullmatch(seg)
        if m is None:
            raise _OverrideProblem(
                f"{seg!r} is not a key: brackets hold a list index, as in augment[0].params.p")
        name, brackets = m.group(1).strip(), m.group(2)
        if name:
            parts.append((name, False))
        elif not brackets or not parts:
            raise _OverrideProblem(
                f"the key {key.strip()!r} has an empty part; write KEY=VALUE with KEY like "
                "run.epochs or augment[0].params.p")
        parts.extend((idx.strip(), True) for idx in re.findall(r"\[([^\[\]]*)\]", brackets))
    return parts


def _parse_value(text: str) -> Any:
    """A ``--set`` value in TOML syntax; a bare word (not TOML) is a string."""
    try:
        data = _toml_loads(f"v = {text}")
    except RecursionError:
        raise _OverrideProblem(f"the value is nested too deeply to be read: a config is at "
                               f"most {MAX_DEPTH} levels of tables and lists") from None
    except ValueError as exc:
        if not isinstance(exc, _tomllib().TOMLDecodeError) and "digits" in str(exc):
            raise _OverrideProblem(_digits_message(text)) from None
        return text  # a bare word: a string
    if set(data) != {"v"}:  # "1\nw = 2": more than one value
        return text
    return data["v"]


def _keys_of(node: dict[str, Any]) -> str:
    keys = [str(k) for k in node]
    shown = ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "")
    return f"its keys: {shown}" if keys else "it is empty"


def _apply_one(config: dict[str, Any], item: str) -> _Override:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise _OverrideProblem("expected KEY=VALUE, e.g. run.epochs=3 or 'augment[0].params.p=0.5'")
    parts = _parse_key(key)
    if len(parts) > MAX_DEPTH:
        raise _OverrideProblem(f"the key has {len(parts)} parts: a config is at most {MAX_DEPTH} "
                               "levels of tables and lists")
    value = _parse_value(raw)
    node: Any = config
    path: list[str | int] = []
    created: list[tuple[str | int, ...]] = []
    for i, (part, bracket) in enumerate(parts):
        here = _dotted(path) or "the config"
        if isinstance(node, list):
            count = f"a list of {len(node)} item{'' if len(node) == 1 else 's'}"
            valid = ("none: it is empty" if not node else f"{here}[0]" if len(node) == 1
                     else f"{here}[0] to {here}[{len(node) - 1}]")
            if not _INDEX.fullmatch(part):
                raise _OverrideProblem(f"{here} is {count}, so {part!r} is not an index of it "
                                       f"(valid: {valid})")
            index = int(part)
            if index >= len(node):
                raise _OverrideProblem(
                    f"{here} is {count}, so {index} is not an index of it (valid: {valid}); "
                    f"--set changes existing list items only: add the item in the config file")
            seg: str | int = index
        elif isinstance(node, dict):
            if bracket:
                raise _OverrideProblem(f"{here} is a table, not a list: [{part}] cannot index it "
                                       f"({_keys_of(node)})")
            seg = part
        else:
            raise _OverrideProblem(
                f"{here} is {type_name(node)} ({show_value(node)}), not a table or a list, so it "
                f"has no {'item' if bracket else 'key'} {part!r}")
        path.append(seg)
        if i == len(parts) - 1:
            problems = check_values(value, path=tuple(path))
            if problems:
                raise _OverrideProblem(*(str(p) for p in problems))
            node[seg] = value
        else:
            if isinstance(node, dict) and seg not in node:
                if parts[i + 1][1]:
                    raise _OverrideProblem(
                        f"{_dotted(path)} is not in the config, so it has no item "
                        f"[{parts[i + 1][0]}]: --set cannot create list items")
                node[seg] = {}
                created.append(tuple(path))
            node = node[seg]
    return _Override(item, tuple(path), tuple(created))


def _apply(config: dict[str, Any], overrides: Sequence[str],
           source: str | None) -> tuple[dict[str, Any], list[_Override]]:
    try:
        config = copy.deepcopy(config)
    except RecursionError:
        raise ConfigError(source or "<config>", [f"nested too deeply: a config is at most "
                                                 f"{MAX_DEPTH} levels of tables and lists"]) from None
    applied: list[_Override] = []
    problems: list[str] = []
    for item in overrides:
        try:
            applied.append(_apply_one(config, item))
        except _OverrideProblem as exc:
            problems += [f"--set {_show_item(item)}: {m}" for m in exc.messages]
    if problems:
        where = f"in the overrides of {source}" if source else "in the overrides"
        raise ConfigError("--set", problems, where=where)
    return config, applied


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values in TOML syntax; bare words are strings).

    List items are addressed by index, as ``runs show`` prints them or dotted:
    ``augment[0].params.p=0.5`` or ``augment.0.params.p=0.5``. A missing table on the way is
    created; a missing list item is an error. NaN, infinity and integers beyond 64 bits are
    refused. Errors are a :class:`ConfigError` from ``--set`` naming each ``KEY=VALUE``.
    """
    return _apply(config, overrides, None)[0]


def canonical_json(obj: Any) -> str:
    """Canonical JSON (sorted keys, no spaces): what config hashes are computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_sha256(config: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


# -- problems in plain sentences -----------------------------------------------------------------


@dataclass
class _Problem:
    """One problem: the pointer shown, the sentence, and the path its origin is looked up by."""

    path: tuple[str | int, ...]
    message: str
    target: tuple[str | int, ...] | None = None

    @property
    def where(self) -> tuple[str | int, ...]:
        return self.path if self.target is None else self.target


@dataclass
class _Origin:
    """Where the values of a config came from: a file's text, and the ``--set`` overrides."""

    text: str | None = None
    is_json: bool = False
    overrides: Sequence[_Override] = ()
    _lines: dict[tuple[str, ...], int] | None = None

    def override_of(self, target: Sequence[str | int]) -> _Override | None:
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


def _raise(source: str, problems: list[_Problem], origin: _Origin) -> None:
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


def _close(word: Any, candidates: Sequence[str]) -> str | None:
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
        parsed = _toml_loads(f"v = {value.strip()}").get("v")
    except (ValueError, RecursionError):
        return ""
    fits = (("boolean" in names and isinstance(parsed, bool))
            or (not isinstance(parsed, bool) and (
                ("integer" in names and isinstance(parsed, int))
                or ("number" in names and isinstance(parsed, (int, float))))))
    return f" (write it without quotes: {value.strip()})" if fits else ""


@dataclass(frozen=True)
class _Owner:
    """The component whose params are validated (``version`` None for built-in optimizers)."""

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
    where = f" to [{_dotted(path)}]" if path else ""
    if "const" in schema:
        return f" (add {key} = {show_value(schema['const'])}{where})"
    if "$ref" in schema or schema.get("type") == "object":
        if "$ref" in schema:  # a component: its name is what it needs
            return f" (add a [{_dotted((*path, key))}] table with name = \"...\")"
        return f" (add a [{_dotted((*path, key))}] table)"
    return f" (add {key} = ...{where})"


def _explain(err: Any, base: tuple[str | int, ...], owner: _Owner | None,
             suggest: Suggest | None) -> Iterator[_Problem]:
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
            guess = _close(key, known)
            if guess is None and suggest is not None:
                guess = suggest(path, str(key), known)
            mean = f" (did you mean {guess!r}?)" if guess else ""
            listed = (f"known {noun}s: {', '.join(known)}" if known
                      else ("it takes no params" if at_params else "no keys are allowed here"))
            yield _Problem(path, f"unknown {noun} {show_value(str(key))}{of}{mean}; {listed}{tail}",
                           (*path, key))
    elif kw == "required" and isinstance(value, dict):
        props = schema.get("properties", {}) if isinstance(schema, dict) else {}
        for key in expected:
            if key not in value:
                fix = "" if owner is not None else _add_hint(path, key, props.get(key))
                yield _Problem(path, f"missing {noun} {key!r}{of}{fix}{tail}")
    elif kw == "type":
        yield _Problem(path, f"expected {_types(expected)}, found {_found(value)}"
                             f"{_unquote_hint(value, expected)}{tail}")
    elif kw == "enum":
        guess = _close(value, [v for v in expected if isinstance(v, str)])
        mean = f" (did you mean {guess!r}?)" if guess else ""
        options = ", ".join(show_value(v) for v in expected)
        yield _Problem(path, f"expected one of {options}, found {_found(value)}{mean}{tail}")
    elif kw == "const":
        yield _Problem(path, f"expected {show_value(expected)}, found {_found(value)}{tail}")
    elif kw in _COMPARISONS:
        yield _Problem(path, f"expected {_number_noun(schema)} {_COMPARISONS[kw]} "
                             f"{show_value(expected)}, found {show_value(value)}{tail}")
    elif kw in ("minLength", "maxLength") and isinstance(value, str):
        if kw == "minLength" and expected == 1:
            want = "a non-empty string"
        else:
            want = f"a string of {'at least' if kw == 'minLength' else 'at most'} {expected} characters"
        yield _Problem(path, f"expected {want}, found {show_value(value)} "
                             f"({len(value)} characters){tail}")
    elif kw in ("minItems", "maxItems") and isinstance(value, (list, tuple)):
        exact = isinstance(schema, dict) and schema.get("minItems") == schema.get("maxItems")
        bound = "exactly" if exact else ("at least" if kw == "minItems" else "at most")
        yield _Problem(path, f"expected a list of {bound} {expected} item{'' if expected == 1 else 's'}"
                             f", found {len(value)}{tail}")
    elif kw == "pattern" and isinstance(value, str):
        if expected == _NAME_PATTERN:
            want = ("a component name: the registered `name` or `dist:name` (lowercase letters, "
                    "digits and _; never a path or a module)")
        else:
            want = f"a string matching the pattern {expected!r}"
        yield _Problem(path, f"expected {want}, found {show_value(value)}{tail}")
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
        yield _Problem(path, f"expected {listed}, found {_found(value)}{tail}")
    elif kw == "uniqueItems":
        yield _Problem(path, f"expected a list without repeated items, found {show_value(value)}{tail}")
    elif kw == "multipleOf":
        yield _Problem(path, f"expected a multiple of {show_value(expected)}, found "
                             f"{show_value(value)}{tail}")
    else:
        message = str(err.message)
        if len(message) > 200:
            message = message[:200] + "..."
        yield _Problem(path, message + tail)


def _schema_problems(validator: Any, instance: Any, base: tuple[str | int, ...] = (),
                     owner: _Owner | None = None, suggest: Suggest | None = None) -> list[_Problem]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    seen: set[tuple[tuple[str, ...], str]] = set()
    out: list[_Problem] = []
    for err in errors:  # ``required`` gives one error per missing key, each naming them all
        for p in _explain(err, base, owner, suggest):
            key = (tuple(str(x) for x in p.path), p.message)
            if key not in seen:
                seen.add(key)
                out.append(p)
    return out


@functools.cache
def _config_validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(load_schema("experiment-config"))


def _params_problems(schema: dict[str, Any], params: Any, base: tuple[str | int, ...],
                     owner: _Owner) -> list[_Problem]:
    import jsonschema

    return _schema_problems(jsonschema.Draft202012Validator(schema), params, base, owner)


# -- resolution ------------------------------------------------------------------------------------


@dataclass
class Slot:
    """One component use in a config: where (role, pointer), what, with which params."""

    role: str  # "model.head", "augment[0]"
    pointer: str  # "/model/head"
    kind: str
    ref: dict[str, Any]
    info: ComponentInfo | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The dotted config key of this slot, for messages: ``augment.0``."""
        return self.pointer.strip("/").replace("/", ".")


@dataclass
class ResolvedConfig:
    """A validated config with every component resolved (nothing imported)."""

    source: str
    config: dict[str, Any]
    slots: list[Slot]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    #: The config's trackers, each as the ``dist:name`` of its ``torchrack.hooks`` entry point.
    trackers: list[str] = field(default_factory=list)

    def slot(self, role: str) -> Slot:
        return next(s for s in self.slots if s.role == role)

    def slots_of(self, kind: str) -> list[Slot]:
        return [s for s in self.slots if s.kind == kind]

    @property
    def sha256(self) -> str:
        return config_sha256(self.config)


def _slots(config: dict[str, Any]) -> list[Slot]:
    slots = [Slot("data.dataset", "/data/dataset", "dataset", config["data"]["dataset"])]
    for i, ref in enumerate(config.get("augment", [])):
        slots.append(Slot(f"augment[{i}]", f"/augment/{i}", "augmentation", ref))
    slots.append(Slot("model.backbone", "/model/backbone", "backbone", config["model"]["backbone"]))
    slots.append(Slot("model.head", "/model/head", "head", config["model"]["head"]))
    slots.append(Slot("loss", "/loss", "loss", config["loss"]))
    for i, ref in enumerate(config.get("metrics", [])):
        slots.append(Slot(f"metrics[{i}]", f"/metrics/{i}", "metric", ref))
    if "accelerator" in config:
        slots.append(Slot("accelerator", "/accelerator", "accelerator", config["accelerator"]))
    return slots


#: The component kind at each place of a config (list items by their list's key).
_KINDS = {("data", "dataset"): "dataset", ("augment",): "augmentation", ("model", "backbone"): "backbone",
          ("model", "head"): "head", ("loss",): "loss", ("metrics",): "metric",
          ("accelerator",): "accelerator"}


def _suggester(config: Any, registry: Registry) -> Suggest:
    """Did-you-mean for a key that is no typo but misplaced: ``seed`` at the top level belongs
    in ``run``; ``max_shift`` next to a component's ``name`` belongs in its ``params``."""
    schema = load_schema("experiment-config")

    def child_props(sub: Any) -> dict[str, Any]:
        if isinstance(sub, dict) and "$ref" in sub:
            sub = schema["$defs"].get(str(sub["$ref"]).rsplit("/", 1)[-1], {})
        return sub.get("properties", {}) if isinstance(sub, dict) else {}

    def suggest(path: tuple[str | int, ...], key: str, known: Sequence[str]) -> str | None:
        if not path:
            for name, sub in schema["properties"].items():
                if key in child_props(sub):
                    return f"{name}.{key}"
            return None
        where = tuple(p for p in path if not isinstance(p, int))
        kind = _KINDS.get(where)
        ref: Any = config
        for p in path:
            try:
                ref = ref[p]
            except (KeyError, IndexError, TypeError):
                return None
        if isinstance(ref, dict) and isinstance(ref.get("name"), str) and "params" in known:
            params: dict[str, Any] = {}
            if kind is not None:
                try:  # only a hint: whatever goes wrong here, there is no suggestion
                    params = registry.resolve(kind, ref["name"]).params_schema.get("properties", {})
                except Exception:  # noqa: BLE001
                    return None
            elif where in (("optimizer",), ("scheduler",)):
                table = OPTIMIZERS if where == ("optimizer",) else SCHEDULERS
                params = table[ref["name"]][1]["properties"] if ref["name"] in table else {}
            if key in params:
                return f"params.{key}"
        return None

    return suggest


def _builtin(config: dict[str, Any], key: str, table: dict[str, tuple[Any, dict[str, Any]]],
             default: dict[str, Any], problems: list[_Problem]) -> dict[str, Any]:
    ref = config.get(key, default)
    name = ref.get("name")
    if name not in table:
        guess = _close(name, list(table))
        mean = f" (did you mean {guess!r}?)" if guess else ""
        problems.append(_Problem((key, "name"), f"unknown {key} {show_value(name)}{mean}; "
                                                f"expected one of: {', '.join(table)}"))
        return {"name": name, "params": {}}
    schema = table[name][1]
    given = ref.get("params", {})
    problems += _params_problems(schema, given, (key, "params"), _Owner(key, name))
    return {"name": name, "params": params_with_defaults(schema, given)}


def _under(path: Sequence[str | int], roots: set[tuple[str, ...]]) -> bool:
    parts = tuple(str(p) for p in path)
    return any(parts[:len(r)] == r for r in roots)


def _resolve(config: dict[str, Any], registry: Registry, source: str,
             origin: _Origin) -> ResolvedConfig:
    values = check_values(config)
    bad = {tuple(str(p) for p in v.path) for v in values}
    # Offending values are replaced (by null) before anything else looks at the config: the
    # 4300-digit limit of repr() and the stack are not jsonschema's concern. What is then said
    # about those nulls is left out: the value's own problem says it.
    checked: Any = sanitized(config, values) if values else config
    problems: list[_Problem] = []

    def report() -> None:
        found = [_Problem(v.path, v.message) for v in values]
        _raise(source, found + [p for p in problems if not _under(p.path, bad)], origin)

    problems += _schema_problems(_config_validator(), checked, suggest=_suggester(checked, registry))
    if problems:
        report()
    slots = _slots(checked)
    for slot in slots:
        place = tuple(int(p) if p.isdigit() else p for p in slot.pointer.strip("/").split("/"))
        try:
            slot.info = registry.resolve(slot.kind, slot.ref["name"], slot.ref.get("version"))
        except TorchrackError as exc:
            field_ = "version" if "version" in str(type(exc).__name__).lower() else "name"
            problems.append(_Problem((*place, field_), str(exc)))
            continue
        given = slot.ref.get("params", {})
        schema = slot.info.params_schema
        owner = _Owner(slot.kind, slot.info.qualname, slot.info.version)
        problems += _params_problems(schema, given, (*place, "params"), owner)
        slot.params = params_with_defaults(schema, given)
    optimizer = _builtin(checked, "optimizer", OPTIMIZERS, DEFAULT_OPTIMIZER, problems)
    scheduler = _builtin(checked, "scheduler", SCHEDULERS, DEFAULT_SCHEDULER, problems)
    trackers: list[str] = []
    for i, ref in enumerate(checked.get("trackers", [])):
        try:  # statically, like components: an unknown or untrusted name is refused here
            plugin, ep = registry.resolve_hook(ref["name"])
        except TorchrackError as exc:
            problems.append(_Problem(("trackers", i, "name"), str(exc)))
            continue
        trackers.append(f"{plugin.canonical_name}:{ep.name}")
    if problems or values:
        report()
    return ResolvedConfig(source, config, slots, optimizer, scheduler, trackers)


def resolve_config(
    config: dict[str, Any], registry: Registry, source: str = "<config>"
) -> ResolvedConfig:
    """Validate ``config`` and resolve its components statically; raise :class:`ConfigError`."""
    return _resolve(config, registry, source, _Origin())


def load_and_resolve(
    path: str | Path, registry: Registry, overrides: list[str] | None = None
) -> ResolvedConfig:
    """Read, override, validate and resolve the config at ``path``.

    Problems name the line of the file that holds each offending value, or the ``--set`` that
    gave it.
    """
    path = Path(path)
    data, text = _parse_file(path)
    config, applied = _apply(data, overrides or [], str(path))
    origin = _Origin(text=text, is_json=path.suffix.lower() == ".json", overrides=applied)
    return _resolve(config, registry, str(path), origin)
