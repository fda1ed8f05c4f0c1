"""The ``torchrack`` command line: a table of commands, each module imported only when it runs.

Exit codes: 0 success, 1 a check failed or a command could not do its job (the message says why),
2 usage error (unknown command, bad flag), 130 interrupted.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
from collections.abc import Sequence

from torchrack._errors import TorchrackError
from torchrack._version import API_VERSION, __version__

#: command -> (module, one-line summary). Modules define add_arguments(parser) and run(args).
COMMANDS: dict[str, tuple[str, str]] = {
    "list": ("torchrack.cli._list", "list installed components and plugins that cannot be used"),
    "info": ("torchrack.cli._info", "show one component or plugin: manifest, specs, verdict"),
    "check": ("torchrack.cli._check", "vet every installed plugin; the CI gate"),
    "schema": ("torchrack.cli._schema", "print one of the published JSON Schemas"),
    "validate": ("torchrack.cli._validate", "check a config and its tensor contracts, no compute"),
    "run": ("torchrack.cli._run", "train and evaluate from a config; record the run"),
    "eval": ("torchrack.cli._eval", "evaluate a recorded run's checkpoint again"),
    "runs": ("torchrack.cli._runs", "list, show, compare and plot recorded runs"),
    "lock": ("torchrack.cli._lock", "write the resolved components of a config to a lock file"),
    "new-plugin": ("torchrack.cli._new_plugin", "scaffold a complete plugin distribution"),
    "manifest": ("torchrack.cli._manifest", "generate a manifest from code, or check it for drift"),
    "verify": ("torchrack.cli._verify", "hash installed plugin files against RECORD (and a lock)"),
    "config": ("torchrack.cli._config", "show the trust settings in force and where each came from"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        f"usage: torchrack [--version] COMMAND [ARGS]\n\ntorchrack {__version__} "
        f"(hook API {API_VERSION})\n\ncommands:"
    ]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines.append("\n`torchrack COMMAND --help` describes a command.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else 2
    if args[0] == "--version":
        print(f"torchrack {__version__} (hook API {API_VERSION})")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"torchrack: error: unknown command {name!r}{hint}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, summary = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"torchrack {name}", description=summary)
    module.add_arguments(parser)
    try:
        ns = parser.parse_args(rest)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        return int(module.run(ns))
    except TorchrackError as exc:
        print(f"torchrack {name}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"torchrack {name}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - never a bare traceback for users
        if os.environ.get("TORCHRACK_DEBUG"):
            raise
        print(
            f"torchrack {name}: internal error: {type(exc).__name__}: {exc}\n"
            "(set TORCHRACK_DEBUG=1 to see the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1
