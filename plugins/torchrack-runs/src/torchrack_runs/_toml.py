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
