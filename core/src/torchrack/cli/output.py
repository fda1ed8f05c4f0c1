"""Output helpers for commands, core and plugin ones: tables, strict JSON, escaped text.

- :func:`print_json`: strict JSON (RFC 8259) on stdout: NaN and infinities become ``null``;
- :func:`table`: left-aligned columns;
- :func:`stdout_is_tty`: whether stdout is a terminal (JSON is indented there);
- :func:`clean`: a string with control characters escaped, so that no value a plugin or a user
  wrote (a run name, an error message) can move the cursor or recolour a terminal. The CLI
  applies it to everything written to stdout and stderr (:class:`EscapingWriter`).
"""

from __future__ import annotations

import io
import json
import math
import sys
from argparse import ArgumentTypeError
from collections.abc import Callable, Sequence
from typing import Any, TextIO

# C0 controls (but tab and newline), DEL and C1 controls, shown as escapes.
_KEEP = {"\n", "\t"}
_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if chr(c) not in _KEEP}
_ESCAPES_KEEP_CR = {c: e for c, e in _ESCAPES.items() if c != 0x0D}


def clean(text: str, *, keep_cr: bool = False) -> str:
    """``text`` with control characters (but newline and tab) written as ``\\xNN`` escapes."""
    return text.translate(_ESCAPES_KEEP_CR if keep_cr else _ESCAPES)


def strict(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (JSON has no NaN or Infinity)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """Strict JSON text of ``data`` (non-finite floats as null; other values as ``str``)."""
    try:
        return json.dumps(data, indent=indent, sort_keys=False, default=str, allow_nan=False)
    except ValueError:  # a NaN or an infinity somewhere: replace them, then write
        return json.dumps(strict(data), indent=indent, sort_keys=False, default=str, allow_nan=False)


def print_json(data: Any) -> None:
    """Print ``data`` as strict JSON on stdout: indented on a terminal, one line otherwise."""
    # Indented output goes through json's pure-Python encoder (the C one only writes one line),
    # several times slower: 40 ms of a cold 1,000-plugin `torchrack list --json`, which a script
    # or CI job reading the pipe never looks at. json.dumps, not json.dump: dump writes every
    # token separately; one string and one write is several times faster.
    sys.stdout.write(dumps(data, indent=2 if stdout_is_tty() else None) + "\n")


def stdout_is_tty() -> bool:
    """Whether stdout is a terminal (False for a pipe, a file, a replaced or closed stdout)."""
    try:
        return bool(sys.stdout.isatty())
    except (AttributeError, ValueError):
        return False


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns; the last column is not padded."""
    cells = [list(map(str, headers))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)) + "  " + r[-1] if len(r) > 1 else r[0]
        for r in cells
    ).rstrip()


class EscapingWriter(io.TextIOBase):
    """A text stream that writes to ``target`` with control characters escaped (:func:`clean`)."""

    def __init__(self, target: TextIO, *, keep_cr: bool = False) -> None:
        super().__init__()
        self.target = target
        self.keep_cr = keep_cr

    def write(self, text: str) -> int:
        self.target.write(clean(text, keep_cr=self.keep_cr))
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")


def nonempty(what: str) -> Callable[[str], str]:
    """An argparse type refusing an empty value (``--dist "$DIST"`` with the variable unset),
    which would otherwise be taken as a name or path: ``expected WHAT, found an empty string``."""

    def check(text: str) -> str:
        if not text.strip():
            raise ArgumentTypeError(f"expected {what}, found an empty string (an unset shell variable?)")
        return text

    return check
