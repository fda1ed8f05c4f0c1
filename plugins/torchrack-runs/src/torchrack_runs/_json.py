"""Strict JSON for the run store and the event logs: what is written is RFC 8259 JSON.

Values json cannot write are converted first (:func:`jsonable`): numpy/torch scalars and arrays
become numbers and lists, sets sorted lists, mapping keys strings (as json itself would write
them), other objects their ``str``; NaN and the infinities become ``null``, so that no ``NaN``
token ever reaches a JSON text column or an ``events.jsonl`` line. Floats otherwise round-trip
bit for bit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def json_default(obj: Any) -> Any:
    """JSON form of values json cannot write: numpy/torch scalars and arrays, sets, the rest as str."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    return str(obj)


def _key(key: Any) -> str:
    # What json.dumps writes for the keys it accepts; str() for any other key (a tuple, say).
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(jsonable(key))
    return str(key)


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON data: dicts with string keys, lists, str, int, finite floats, None."""
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {_key(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    converted = json_default(obj)
    if isinstance(converted, str) or converted is obj:
        return converted
    return jsonable(converted)


def dumps(obj: Any, *, canonical: bool = True) -> str:
    """Strict JSON text of ``obj`` (see :func:`jsonable`); ``canonical``: sorted keys, no spaces.

    Raises ValueError for what has no JSON form at all (a circular or far too deeply nested
    structure, an int of more than ~4300 digits), TypeError never.
    """
    try:
        data = jsonable(obj)
    except RecursionError:
        raise ValueError("the value is circular or nested too deeply to be written as JSON") from None
    if canonical:
        return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return json.dumps(data, allow_nan=False)
