"""The ``torchrack`` command line: a table of commands, each module imported only when it runs.

The core's own commands are in :data:`COMMANDS`. Every other command comes from a plugin: an
entry point in the ``torchrack.commands`` group (name = command, value = ``module`` or
``module:attr``, an object with ``add_arguments(parser)`` and ``run(args) -> int``), described
under ``commands`` in the plugin's manifest. Plugin commands are vetted like every plugin before
import: ``torchrack --help`` lists them with their summaries from the manifest, imports none of
them, and shows an incompatible, broken or denied one as unavailable with the reason.

Exit codes: 0 success, 1 a check failed or a command could not do its job (the message says why),
2 usage error (unknown command, bad flag), 130 interrupted. A closed pipe (``| head``) ends a
command quietly. Everything written to the terminal has its control characters escaped.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from torchrack._errors import TorchrackError
from torchrack._record import Record
from torchrack._version import API_VERSION, __version__

if TYPE_CHECKING:
    from torchrack.plugins import EntryPointFact, PluginInfo, Registry

#: command -> (module, one-line summary). Modules define add_arguments(parser) and run(args).
COMMANDS: dict[str, tuple[str, str]] = {
    "list": ("torchrack.cli._list", "list installed components and plugins that cannot be used"),
    "info": ("torchrack.cli._info", "show one component or plugin: manifest, specs, verdict"),
    "check": ("torchrack.cli._check", "vet every installed plugin; the CI gate"),
    "schema": ("torchrack.cli._schema", "print one of the published JSON Schemas"),
    "new-plugin": ("torchrack.cli._new_plugin", "scaffold a complete plugin distribution"),
    "manifest": ("torchrack.cli._manifest", "generate a manifest from code, or check it for drift"),
    "verify": ("torchrack.cli._verify", "hash installed plugin files against RECORD (and a lock)"),
    "config": ("torchrack.cli._config", "show the trust settings in force and where each came from"),
}

#: Commands that first-party distributions provide, for the message when one is not installed.
PROVIDERS: dict[str, str] = {
    "validate": "torchrack-runs",
    "run": "torchrack-runs",
    "eval": "torchrack-runs",
    "runs": "torchrack-runs",
    "lock": "torchrack-runs",
    "sweep": "torchrack-runs",
    "ui": "torchrack-ui",
}


class PluginCommand(Record):
    """A ``torchrack.commands`` entry point: where from, its summary, why it cannot run (if so)."""

    _fields = ("name", "plugin", "entry_point", "summary", "unavailable")

    def __init__(self, name: str, plugin: PluginInfo, entry_point: EntryPointFact, summary: str,
                 unavailable: str | None) -> None:
        self.name = name
        self.plugin = plugin
        self.entry_point = entry_point
        self.summary = summary
        self.unavailable = unavailable


def plugin_commands(registry: Registry) -> dict[str, list[PluginCommand]]:
    """Every plugin command by name (several when distributions collide); imports nothing."""
    out: dict[str, list[PluginCommand]] = {}
    for plugin, ep in registry.commands():
        declared = ((plugin.manifest or {}).get("commands") or {}).get(ep.name) or {}
        summary = str(declared.get("summary") or f"(from {plugin.name})") if isinstance(declared, dict) else ""
        out.setdefault(ep.name, []).append(
            PluginCommand(ep.name, plugin, ep, summary, registry.refusal(plugin, ep))
        )
    return out


def _registry() -> Registry | None:
    from torchrack.plugins import Registry

    try:
        return Registry.discover()
    except TorchrackError:
        return None  # bad settings: the core's own commands still work, and say so


def _usage(registry: Registry | None) -> str:
    found = plugin_commands(registry) if registry is not None else {}
    rows = [(name, summary) for name, (_, summary) in COMMANDS.items()]
    for name, cmds in sorted(found.items()):
        if name in COMMANDS:
            continue
        usable = [c for c in cmds if c.unavailable is None]
        if len(usable) == 1:
            rows.append((name, f"{usable[0].summary} [{usable[0].plugin.name}]"))
        elif len(usable) > 1:
            rows.append((name, "unavailable: provided by more than one distribution ("
                         + ", ".join(c.plugin.name for c in usable) + ")"))
        else:
            rows.append((name, f"unavailable: {cmds[0].unavailable}"))
    installed = {p.canonical_name for p in registry.plugins} if registry is not None else set()
    for name, dist in PROVIDERS.items():
        if name not in found and dist not in installed:
            rows.append((name, f"not installed: pip install {dist}"))
    width = max(len(n) for n, _ in rows)
    lines = [f"usage: torchrack [--version] COMMAND [ARGS]\n\ntorchrack {__version__} "
             f"(hook API {API_VERSION})\n\ncommands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, summary in rows]
    lines.append("\n`torchrack COMMAND --help` describes a command.")
    return "\n".join(lines)


def _find_command(name: str) -> tuple[Any, str] | int:
    """The command object and summary for ``name``, or an exit code after saying why not."""
    if name in COMMANDS:
        module_name, summary = COMMANDS[name]
        return importlib.import_module(module_name), summary
    registry = _registry()
    found = plugin_commands(registry).get(name, []) if registry is not None else []
    usable = [c for c in found if c.unavailable is None]
    if len(usable) > 1:
        print(f"torchrack: error: command {name!r} is provided by more than one distribution "
              f"({', '.join(c.plugin.name for c in usable)}); uninstall or deny one of them "
              "(TORCHRACK_DENY=dist:" + name + ")", file=sys.stderr)
        return 1
    if usable:
        cmd = usable[0]
        assert registry is not None
        try:
            obj = registry.load_command(cmd.plugin, cmd.entry_point)
        except TorchrackError as exc:
            print(f"torchrack {name}: error: {exc}", file=sys.stderr)
            return 1
        if not callable(getattr(obj, "run", None)) or not callable(getattr(obj, "add_arguments", None)):
            print(f"torchrack {name}: error: command entry point {cmd.entry_point.value} of "
                  f"{cmd.plugin.name} has no add_arguments(parser) and run(args); it cannot run",
                  file=sys.stderr)
            return 1
        return obj, cmd.summary
    if found:
        print(f"torchrack {name}: error: the command is unavailable: {found[0].unavailable}",
              file=sys.stderr)
        return 1
    installed = {p.canonical_name for p in registry.plugins} if registry is not None else set()
    if name in PROVIDERS and PROVIDERS[name] not in installed:
        print(f"torchrack {name}: error: this command is provided by the {PROVIDERS[name]} "
              f"distribution, which is not installed; pip install {PROVIDERS[name]}", file=sys.stderr)
        return 1
    import difflib

    known = list(COMMANDS) + list(PROVIDERS)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    print(f"torchrack: error: unknown command {name!r}{hint}\n\n{_usage(registry)}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    from torchrack.cli.output import EscapingWriter

    saved = sys.stdout, sys.stderr
    sys.stdout = EscapingWriter(saved[0])  # type: ignore[assignment]
    sys.stderr = EscapingWriter(saved[1], keep_cr=True)  # type: ignore[assignment]
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, saved[0].fileno())
        except (OSError, ValueError):
            pass
        return 0
    finally:
        sys.stdout, sys.stderr = saved


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, told the terminal's width: without one it imports :mod:`shutil`
    (with bz2 and lzma, 2 ms of every command) to ask, and argparse builds a formatter for each
    argument added. The width is asked of the terminal the same way (``COLUMNS``, then stdout's
    terminal, else 80) when help is actually written."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            width = _terminal_columns() - 2  # as argparse does
        super().__init__(prog, indent_increment, max_help_position, width)


def _terminal_columns() -> int:
    """shutil.get_terminal_size's columns: ``COLUMNS`` when a positive number, else stdout's
    terminal, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


def _main(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage(_registry()))
        return 0 if args else 2
    if args[0] == "--version":
        print(f"torchrack {__version__} (hook API {API_VERSION})")
        return 0
    name, rest = args[0], args[1:]
    found = _find_command(name)
    if isinstance(found, int):
        return found
    module, summary = found
    parser = argparse.ArgumentParser(prog=f"torchrack {name}", description=summary,
                                     formatter_class=_HelpFormatter)
    try:
        module.add_arguments(parser)
        ns = parser.parse_args(rest)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(module.run(ns))
    except TorchrackError as exc:
        print(f"torchrack {name}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"torchrack {name}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise
    except RecursionError:
        print(f"torchrack {name}: error: the input is nested too deeply to be read", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"torchrack {name}: error: out of memory (is an input, or a size in the config, "
              "far larger than intended?)", file=sys.stderr)
        return 1
    except OSError as exc:
        if os.environ.get("TORCHRACK_DEBUG"):
            raise
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"torchrack {name}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except SystemExit as exc:  # a plugin command (or code it ran) called sys.exit()
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # noqa: BLE001 - never a bare traceback for users
        if os.environ.get("TORCHRACK_DEBUG"):
            raise
        print(
            f"torchrack {name}: internal error: {type(exc).__name__}: {exc}\n"
            "(set TORCHRACK_DEBUG=1 to see the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1
