"""Values a JSON Schema cannot refuse: non-finite numbers, integers beyond 64 bits, deep nesting.

:func:`check_values` walks any JSON-like value (dicts, lists, tuples, scalars) without recursion,
so a hostile input cannot exhaust the stack, and returns one :class:`ValueProblem` per offending
value, each with its path. It is used for experiment configs and for each ``--set`` value; it
imports nothing from torchrack, so other checks (a plugin manifest's) can reuse it as it is.

The formatting helpers (:func:`show_value`, :func:`describe_int`) never fail either: ``repr`` of
an integer of more than 4300 digits raises ``ValueError`` and a long string would flood a message.
:func:`key_lines` finds the line of each key in a TOML or JSON text (their parsers give none).
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: The range of a signed 64-bit integer: what torch, numpy and SQLite can hold.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: How deeply a config may nest tables and lists (real configs use under 10 levels).
MAX_DEPTH = 64

Path = tuple[str | int, ...]
Kind = Literal["non-finite", "out-of-range", "too-deep"]


def json_pointer(path: Sequence[str | int]) -> str:
    """The JSON pointer (RFC 6901) of ``path``: ``("augment", 0, "params")`` -> ``/augment/0/params``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def short_pointer(path: Sequence[str | int], keep: int = 8) -> str:
    """:func:`json_pointer`, with the middle of a very deep path left out."""
    if len(path) <= keep:
        return json_pointer(path) or "/"
    head, tail = path[: keep - 2], path[-2:]
    return f"{json_pointer(head)}/...({len(path) - keep} more)...{json_pointer(tail)}"


@dataclass(frozen=True)
class ValueProblem:
    """One value that no config may hold: where (``path``), what (``kind``), and the sentence."""

    path: Path
    kind: Kind
    message: str

    @property
    def pointer(self) -> str:
        return json_pointer(self.path)

    def __str__(self) -> str:
        return f"{short_pointer(self.path)}: {self.message}"


def describe_int(value: int, max_digits: int = 40) -> str:
    """``value`` in digits, or ``an integer of N digits`` when it is longer than ``max_digits``."""
    digits = _digit_count(value)
    if digits <= max_digits:
        return str(value)
    return f"{'a negative' if value < 0 else 'an'} integer of {digits} digits"


def _digit_count(value: int) -> int:
    n = abs(value)
    if n < 10:
        return 1
    estimate = int(n.bit_length() * math.log10(2))  # within one of the true count
    return estimate + 1 if n >= 10**estimate else estimate


def show_value(value: Any, limit: int = 60) -> str:
    """A short rendering of ``value`` for messages (strings quoted, containers summarised)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return describe_int(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if len(value) > limit:
            return repr(value[:limit]) + f"... ({len(value)} characters)"
        return repr(value)
    if isinstance(value, dict):
        return "an empty table" if not value else f"a table of {_items(len(value), 'key')}"
    if isinstance(value, (list, tuple)):
        return "an empty list" if not value else f"a list of {_items(len(value), 'item')}"
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _items(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def type_name(value: Any) -> str:
    """What ``value`` is, in a config's words: ``a string``, ``an integer``, ``a table``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def check_values(
    value: Any,
    *,
    path: Path = (),
    max_depth: int = MAX_DEPTH,
    int_min: int = INT64_MIN,
    int_max: int = INT64_MAX,
) -> list[ValueProblem]:
    """Every non-finite float, integer outside ``int_min..int_max`` and container nested deeper
    than ``max_depth`` in ``value``, in document order. ``path`` is where ``value`` sits (its
    length counts towards the depth). Booleans are not integers here. Never raises."""
    problems: list[ValueProblem] = []
    stack: list[tuple[Path, Any]] = [(tuple(path), value)]
    while stack:
        here, node = stack.pop()
        if isinstance(node, (dict, list, tuple)):
            if len(here) >= max_depth and node:
                problems.append(ValueProblem(
                    here, "too-deep",
                    f"nested more than {max_depth} levels deep; a config is at most "
                    f"{max_depth} levels of tables and lists",
                ))
                continue
            children = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend(reversed([((*here, k), v) for k, v in children]))
        elif isinstance(node, float):
            if not math.isfinite(node):
                problems.append(ValueProblem(
                    here, "non-finite",
                    f"expected a finite number, found {node!r}; NaN and infinity are not "
                    "allowed in a config",
                ))
        elif isinstance(node, int) and not isinstance(node, bool):
            if not int_min <= node <= int_max:
                problems.append(ValueProblem(
                    here, "out-of-range",
                    f"expected an integer from {int_min} to {int_max} (64 bits), found "
                    f"{describe_int(node)}",
                ))
    return problems


def sanitized(value: Any, problems: Sequence[ValueProblem], base: Path = ()) -> Any:
    """A copy of ``value`` with each offending value of ``problems`` replaced by ``None``, so
    that code which formats or recurses into values (jsonschema) can look at the rest."""
    bad = {p.path for p in problems}

    def copy(node: Any, here: Path) -> Any:
        if here in bad:
            return None
        if isinstance(node, dict):
            return {k: copy(v, (*here, k)) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [copy(v, (*here, i)) for i, v in enumerate(node)]
        return node

    return copy(value, tuple(base))  # the depth is bounded: too-deep containers are in ``bad``


# -- where a value is in a text ------------------------------------------------------------------


class _Stop(Exception):
    """The text is not what the scanner understands: keep what was found so far."""


class _Scanner:
    """Records the line of each key (and list item) by its path; never fails, may stop early.

    Paths are tuples of strings (list indices as their digits), like JSON pointers.
    """

    _DEPTH = 4 * MAX_DEPTH

    def __init__(self, text: str) -> None:
        self.t = text
        self.n = len(text)
        self.i = 0
        self.lines: dict[tuple[str, ...], int] = {}
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.t[j] if j < self.n else ""

    def record(self, path: tuple[str, ...], pos: int) -> None:
        self.lines.setdefault(path, bisect.bisect_right(self._starts, pos))

    def scan(self) -> dict[tuple[str, ...], int]:
        try:
            self.document()
        except (_Stop, IndexError, ValueError, RecursionError):
            pass
        return self.lines

    def document(self) -> None:
        raise NotImplementedError

    def skip(self, chars: str) -> None:
        while self.i < self.n and self.t[self.i] in chars:
            self.i += 1

    def quoted(self, escapes: bool) -> str:
        """The string at ``self.i`` (a single-line ``"..."`` or ``'...'``), decoded."""
        quote, start = self.t[self.i], self.i
        self.i += 1
        while True:
            c = self.peek()
            if c in ("", "\n"):
                raise _Stop
            if escapes and c == "\\":
                self.i += 2
                continue
            self.i += 1
            if c == quote:
                break
        raw = self.t[start:self.i]
        if not escapes:
            return raw[1:-1]
        try:
            decoded = json.loads(raw)
        except ValueError:
            return raw[1:-1]
        return decoded if isinstance(decoded, str) else raw[1:-1]


class _TomlScanner(_Scanner):
    _BARE = re.compile(r"[A-Za-z0-9_-]+")

    def document(self) -> None:
        table: tuple[str, ...] = ()
        arrays: dict[tuple[str, ...], int] = {}  # array-of-tables path -> items so far
        while self.i < self.n:
            self.skip(" \t\r\n")
            c = self.peek()
            if c == "":
                return
            if c == "#":
                self.comment()
            elif c == "[":
                start, double = self.i, self.t.startswith("[[", self.i)
                self.i += 2 if double else 1
                keys = self.key()
                self.skip(" \t")
                close = "]]" if double else "]"
                if not self.t.startswith(close, self.i):
                    raise _Stop
                self.i += len(close)
                resolved: tuple[str, ...] = ()
                for j, key in enumerate(keys):
                    resolved = (*resolved, key)
                    self.record(resolved, start)
                    if double and j == len(keys) - 1:
                        arrays[resolved] = arrays.get(resolved, 0) + 1
                    if resolved in arrays:
                        resolved = (*resolved, str(arrays[resolved] - 1))
                        self.record(resolved, start)
                table = resolved
            else:
                self.pair(table, 0)

    def comment(self) -> None:
        j = self.t.find("\n", self.i)
        self.i = self.n if j < 0 else j

    def key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self.skip(" \t")
            c = self.peek()
            if c == '"':
                parts.append(self.quoted(escapes=True))
            elif c == "'":
                parts.append(self.quoted(escapes=False))
            else:
                m = self._BARE.match(self.t, self.i)
                if not m:
                    raise _Stop
                parts.append(m.group())
                self.i = m.end()
            self.skip(" \t")
            if self.peek() != ".":
                return tuple(parts)
            self.i += 1

    def pair(self, table: tuple[str, ...], depth: int) -> None:
        start = self.i
        keys = self.key()
        if self.peek() != "=":
            raise _Stop
        self.i += 1
        for j in range(1, len(keys) + 1):
            self.record((*table, *keys[:j]), start)
        self.skip(" \t")
        self.value((*table, *keys), depth + 1)

    def blank(self) -> None:
        while True:
            self.skip(" \t\r\n")
            if self.peek() != "#":
                return
            self.comment()

    def value(self, path: tuple[str, ...], depth: int) -> None:
        if depth > self._DEPTH:
            raise _Stop
        c = self.peek()
        if self.t.startswith('"""', self.i) or self.t.startswith("'''", self.i):
            delim = self.t[self.i:self.i + 3]
            self.i += 3
            while True:
                if self.i >= self.n:
                    raise _Stop
                if delim == '"""' and self.t[self.i] == "\\":
                    self.i += 2
                elif self.t.startswith(delim, self.i):
                    self.i += 3
                    self.skip(delim[0])  # up to two quotes may end the content
                    return
                else:
                    self.i += 1
        if c in ('"', "'"):
            self.quoted(escapes=c == '"')
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self.blank()
                if self.peek() == "]":
                    self.i += 1
                    return
                item = (*path, str(index))
                self.record(item, self.i)
                self.value(item, depth + 1)
                index += 1
                self.blank()
                if self.peek() == ",":
                    self.i += 1
                elif self.peek() != "]":
                    raise _Stop
        elif c == "{":
            self.i += 1
            while True:
                self.skip(" \t")
                if self.peek() == "}":
                    self.i += 1
                    return
                self.pair(path, depth)
                self.skip(" \t")
                if self.peek() == ",":
                    self.i += 1
                elif self.peek() != "}":
                    raise _Stop
        else:  # a number, boolean, date: up to the next delimiter
            while self.i < self.n and self.t[self.i] not in ",]}\r\n#":
                self.i += 1


class _JsonScanner(_Scanner):
    def document(self) -> None:
        self.value((), 0)

    def value(self, path: tuple[str, ...], depth: int) -> None:
        if depth > self._DEPTH:
            raise _Stop
        self.skip(" \t\r\n")
        c = self.peek()
        if c == "{":
            self.i += 1
            while True:
                self.skip(" \t\r\n")
                if self.peek() == "}":
                    self.i += 1
                    return
                if self.peek() != '"':
                    raise _Stop
                start = self.i
                key = (*path, self.quoted(escapes=True))
                self.record(key, start)
                self.skip(" \t\r\n")
                if self.peek() != ":":
                    raise _Stop
                self.i += 1
                self.value(key, depth + 1)
                self.skip(" \t\r\n")
                if self.peek() == ",":
                    self.i += 1
                elif self.peek() != "}":
                    raise _Stop
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self.skip(" \t\r\n")
                if self.peek() == "]":
                    self.i += 1
                    return
                item = (*path, str(index))
                self.record(item, self.i)
                self.value(item, depth + 1)
                index += 1
                self.skip(" \t\r\n")
                if self.peek() == ",":
                    self.i += 1
                elif self.peek() != "]":
                    raise _Stop
        elif c == '"':
            self.quoted(escapes=True)
        elif c:
            while self.i < self.n and self.t[self.i] not in ",]} \t\r\n":
                self.i += 1
        else:
            raise _Stop


def key_lines(text: str, *, is_json: bool = False) -> dict[tuple[str, ...], int]:
    """The line of each key, table header and list item of a TOML (or JSON) config text.

    tomllib and json give no positions, so this scans the text itself; a path it cannot place
    is absent (and its line is then left out of messages).
    """
    return (_JsonScanner(text) if is_json else _TomlScanner(text)).scan()
