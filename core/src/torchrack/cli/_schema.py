"""``torchrack schema NAME``: print a published JSON Schema (manifest, tensor-spec, ...)."""

from __future__ import annotations

import argparse
import sys

from torchrack.contracts._schemas import SCHEMA_FILES, UnknownSchemaError, schema_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help=f"one of: {', '.join(SCHEMA_FILES)}")


def run(args: argparse.Namespace) -> int:
    try:
        sys.stdout.write(schema_text(args.name))
    except UnknownSchemaError as exc:
        print(f"torchrack schema: error: {exc}", file=sys.stderr)
        return 2
    return 0
