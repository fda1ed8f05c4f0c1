"""``torchrack validate CONFIG [--static] [--set K=V]``: check a config before any compute.

``--static``: the schema, each component's existence, version and params, importing neither torch
nor any plugin. Without it, the composed pipeline also runs once on the ``meta`` device and every
component's inputs and outputs are checked against its declared tensor specs.
"""

from __future__ import annotations

import argparse

from torchrack._config import ResolvedConfig
from torchrack._registry import Registry
from torchrack.cli._common import add_config_arguments, resolve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--static", action="store_true",
                        help="schema, names, versions and params only: no torch, no plugin import")


def contract_problems(resolved: ResolvedConfig, registry: Registry) -> list[str]:
    """The meta-device dry run plus every plugin's torchrack_validate_pipeline hook."""
    from torchrack._pipeline import check_pipeline
    from torchrack.cli._common import plugin_manager

    problems = check_pipeline(resolved, registry)
    pm = plugin_manager(resolved, registry, store=None)
    components = {s.role: s.info for s in resolved.slots}
    for extra in pm.hook.torchrack_validate_pipeline(config=resolved.config, components=components):
        problems.extend(extra or [])
    return problems


def run(args: argparse.Namespace) -> int:
    registry, resolved = resolve(args)
    roles = ", ".join(f"{s.role}={s.info.qualname}" for s in resolved.slots if s.info)
    if args.static:
        print(f"{args.config}: valid (static): {roles}")
        return 0
    from torchrack._pipeline import ContractError

    problems = contract_problems(resolved, registry)
    if problems:
        raise ContractError(args.config, problems)
    print(f"{args.config}: valid: {roles}; tensor contracts hold on the meta device")
    return 0
