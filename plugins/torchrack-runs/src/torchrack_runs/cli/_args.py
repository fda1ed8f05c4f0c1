"""argparse types shared by the run commands (imports nothing heavy: ``runs list`` starts fast)."""

from __future__ import annotations

import argparse


def path_arg(text: str) -> str:
    """An argparse type for a file or folder argument: an empty one (``--store "$STORE"`` with
    the variable unset) is a usage error naming the flag, not the working directory ``.``."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, found an empty string (an unset shell variable?)")
    return text
