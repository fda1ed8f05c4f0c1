"""``torchrack lock CONFIG -o LOCK``: write the resolved components with versions and hashes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from torchrack.cli._common import add_config_arguments, resolve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("-o", "--output", required=True, metavar="LOCK", help="lock file to write")


def run(args: argparse.Namespace) -> int:
    from torchrack._lock import make_lock
    from torchrack._trainer import component_records

    registry, resolved = resolve(args)
    lock = make_lock(resolved.sha256, component_records(resolved, registry), registry.torch_version)
    Path(args.output).write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}: {len(lock['components'])} components locked")
    return 0
