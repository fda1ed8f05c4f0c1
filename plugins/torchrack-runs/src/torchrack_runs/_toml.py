"""TOML for configs and ``--set`` values: the parser, and what to say when it refuses a value.

``tomllib`` (``tomli`` before Python 3.11) raises a plain ``ValueError`` for an integer of more than
4300 digits (the limit of ``int()``); :func:`digits_message` says that in a sentence.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from torchrack_runs._values import INT64_MAX, INT64_MIN


def tomllib_module() -> Any:
    """``tomllib``, or ``tomli`` where Python has none (3.10)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib


def toml_loads(text: str) -> dict[str, Any]:
    data: dict[str, Any] = tomllib_module().loads(text)
    return data


LONG_INT = re.compile(r"[0-9][0-9_]{4299,}")
_INT64_RANGE = f"from {INT64_MIN} to {INT64_MAX}"


def digits_message(text: str) -> str:
    """What to say when the parser refused an integer of more than 4300 digits in ``text``."""
    match = LONG_INT.search(text)
    digits = len(match.group().replace("_", "")) if match else 4301
    return (f"an integer of {digits} digits: integers must fit in 64 bits ({_INT64_RANGE}); "
            "write a smaller number")


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\n\t\r":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[ch])
        elif code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04X}" if code < 0xD800 else "\\uFFFD")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _value(value: Any) -> str:
    import math

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = [f"{_key(str(k))} = {_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise TypeError(f"a {type(value).__name__} has no TOML form")


def toml_dumps(config: dict[str, Any]) -> str:
    """A config (a dict of JSON values) as TOML that :func:`toml_loads` reads back equal, except
    that ``None`` values, which TOML cannot write, are left out (a component's param left out
    takes its schema default, which is what a ``null`` default means)."""
    head: list[str] = []
    tables: list[str] = []
    for key, value in config.items():
        if value is None:
            continue
        if isinstance(value, dict):
            tables.append(f"\n[{_key(str(key))}]")
            tables += [f"{_key(str(k))} = {_value(v)}" for k, v in value.items() if v is not None]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                tables.append(f"\n[[{_key(str(key))}]]")
                tables += [f"{_key(str(k))} = {_value(v)}" for k, v in item.items() if v is not None]
        else:
            head.append(f"{_key(str(key))} = {_value(value)}")
    return "\n".join(head + tables) + "\n"
