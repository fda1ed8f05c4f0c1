"""``torchrack manifest generate|check [PROJECT]``: the manifest from the code, and drift for CI.

``generate`` derives each component's params schema from its typed constructor (or the
``params_schema`` dict it declares) and writes ``torchrack-manifest.json``, keeping what the code
cannot say (summary, version, tensor specs, constraints, descriptions). ``check`` exits 1 and
lists every difference when the manifest and the code disagree.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["generate", "check"], help="generate: write the manifest; check: report drift")
    parser.add_argument("project", nargs="?", default=".", help="the plugin's project folder (default: .)")
    parser.add_argument("--stdout", action="store_true", help="generate: print the manifest instead of writing it")


def run(args: argparse.Namespace) -> int:
    from torchrack.authoring._project import check, generate, load_project, write_manifest

    project = load_project(args.project)
    if args.action == "check":
        problems = check(project)
        for p in problems:
            print(f"drift: {p}")
        where = project.manifest_path.relative_to(project.root)
        if problems:
            print(f"\n{where}: {len(problems)} differences from the code -> FAILED "
                  "(run `torchrack manifest generate` and review the diff)")
            return 1
        print(f"{where} matches the code ({len(project.components)} components)")
        return 0
    manifest, changes = generate(project)
    if args.stdout:
        print(json.dumps(manifest, indent=2))
        return 0
    write_manifest(project, manifest)
    for line in changes:
        print(f"  {line}")
    print(f"wrote {project.manifest_path} ({len(manifest['components'])} components, {len(changes)} changes)")
    return 0
