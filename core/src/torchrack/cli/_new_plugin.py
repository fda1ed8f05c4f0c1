"""``torchrack new-plugin NAME --kind KIND [--dir DIR] [--component NAME]``: scaffold a plugin."""

from __future__ import annotations

import argparse

from torchrack._kinds import KINDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="distribution name, e.g. acme-losses")
    parser.add_argument("--kind", required=True, help=f"component kind: {', '.join(KINDS)}")
    parser.add_argument("--dir", default=".", help="folder in which to create NAME/ (default: .)")
    parser.add_argument("--component", help="component (entry-point) name; default: an example name for the kind")


def run(args: argparse.Namespace) -> int:
    from torchrack.authoring._scaffold import new_plugin

    root, files = new_plugin(args.name, args.kind, args.dir, args.component)
    print(f"created {root}/ with {len(files)} files:")
    for path in files:
        print(f"  {path.relative_to(root)}")
    print(
        f"\nnext:\n  cd {root}\n  pip install -e \".[test]\"\n  pytest\n"
        f"  torchrack check --strict --dist {args.name}"
    )
    return 0
