"""``torchrack new-plugin NAME --kind KIND [--dir DIR] [--component NAME]``: scaffold a plugin."""

from __future__ import annotations

import argparse
from importlib import metadata

from torchrack._kinds import KINDS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="distribution name, e.g. acme-losses")
    parser.add_argument("--kind", required=True, help=f"component kind: {', '.join(KINDS)}")
    parser.add_argument("--dir", default=".", help="folder in which to create NAME/ (default: .)")
    parser.add_argument("--component", help="component (entry-point) name; default: an example name for the kind")


#: How to install torch without pulling the multi-GB CUDA build (a bare ``pip install torch`` on
#: Linux does); the scaffold's CI workflow installs it so too, with a pinned version.
TORCH_CPU = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


def _torch_installed() -> bool:
    try:
        metadata.distribution("torch")  # metadata only: torch is not imported
    except metadata.PackageNotFoundError:
        return False
    return True


def run(args: argparse.Namespace) -> int:
    from torchrack.authoring._scaffold import new_plugin

    root, files = new_plugin(args.name, args.kind, args.dir, args.component)
    print(f"created {root}/ with {len(files)} files:")
    for path in files:
        print(f"  {path.relative_to(root)}")
    steps = [f"cd {root}"]
    if not _torch_installed():  # else `pip install -e .` would resolve a bare torch
        steps.append(f"{TORCH_CPU}   # or the build for your GPU")
    steps += ['pip install -e ".[test]"', "pytest", f"torchrack check --strict --dist {args.name}"]
    print("\nnext:\n" + "\n".join(f"  {step}" for step in steps))
    return 0
