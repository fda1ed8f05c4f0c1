"""``--set KEY=VALUE`` overrides: parsing the key and the value, applying them to a config.

Keys address list items by index, as ``runs show`` prints them (``augment[0].params.p``) or dotted
(``augment.0.params.p``); values are TOML (a bare word is a string). Each applied override remembers
the path it set, so that a later problem with that value names the ``--set`` that gave it.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torchrack_runs._messages import ConfigError, dotted
from torchrack_runs._toml import digits_message, toml_loads, tomllib_module
from torchrack_runs._values import MAX_DEPTH, check_values, show_value, type_name


class _OverrideProblem(Exception):
    def __init__(self, *messages: str) -> None:
        super().__init__(messages[0])
        self.messages = list(messages)


@dataclass(frozen=True)
class Override:
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
        data = toml_loads(f"v = {text}")
    except RecursionError:
        raise _OverrideProblem(f"the value is nested too deeply to be read: a config is at "
                               f"most {MAX_DEPTH} levels of tables and lists") from None
    except ValueError as exc:
        if not isinstance(exc, tomllib_module().TOMLDecodeError) and "digits" in str(exc):
            raise _OverrideProblem(digits_message(text)) from None
        return text  # a bare word: a string
    if set(data) != {"v"}:  # "1\nw = 2": more than one value
        return text
    return data["v"]


def _keys_of(node: dict[str, Any]) -> str:
    keys = [str(k) for k in node]
    shown = ", ".join(keys[:12]) + (", ..." if len(keys) > 12 else "")
    return f"its keys: {shown}" if keys else "it is empty"


def _apply_one(config: dict[str, Any], item: str) -> Override:
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
        here = dotted(path) or "the config"
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
                        f"{dotted(path)} is not in the config, so it has no item "
                        f"[{parts[i + 1][0]}]: --set cannot create list items")
                node[seg] = {}
                created.append(tuple(path))
            node = node[seg]
    return Override(item, tuple(path), tuple(created))


def apply_all(config: dict[str, Any], overrides: Sequence[str],
           source: str | None) -> tuple[dict[str, Any], list[Override]]:
    try:
        config = copy.deepcopy(config)
    except RecursionError:
        raise ConfigError(source or "<config>", [f"nested too deeply: a config is at most "
                                                 f"{MAX_DEPTH} levels of tables and lists"]) from None
    applied: list[Override] = []
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
    return apply_all(config, overrides, None)[0]
