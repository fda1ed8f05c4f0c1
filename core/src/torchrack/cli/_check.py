"""``torchrack check [--strict] [--json] [--static] [--dist NAME] [--junit FILE] [WHEEL...]``: the CI gate.

Exit 0 when every installed plugin is usable; 1 when any is incompatible or broken (with
``--strict``, also on any warning: deprecated components, manifest/entry-point mismatches);
2 on usage errors. Denied plugins are reported but are not failures: they were excluded on purpose.
Imports of usable plugins are checked in a child process unless ``--static``. Given wheel files,
it vets those instead, from their metadata and manifest alone, without installing them
(:mod:`torchrack.integrity._wheel`): a wheel that cannot be read is reported ``broken`` (and named
on stderr) while the others are still vetted; a wheel with no ``torchrack.*`` entry points is
``not-a-plugin``, a failure only with ``--strict``. ``warnings`` (in the summary and ``--json``)
counts every warning listed, of every plugin. ``--junit FILE`` creates FILE's missing folders.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from torchrack._errors import TorchrackError
from torchrack._version import API_VERSION, __version__
from torchrack.cli.output import nonempty, print_json
from torchrack.plugins._registry import Registry
from torchrack.plugins._trust import canonical_dist
from torchrack.plugins._vetting import BROKEN, DENIED, INCOMPATIBLE, NOT_PLUGIN, OK, PluginInfo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.add_argument("--static", action="store_true", help="skip the import check")
    parser.add_argument("--dist", action="append", type=nonempty("a distribution name"), help="check only this distribution (repeatable)")
    parser.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report to FILE")
    parser.add_argument("wheels", nargs="*", metavar="WHEEL",
                        help="vet these built wheels (.whl) instead of what is installed; nothing is installed")


# Characters XML 1.0 cannot hold at all (not even escaped): C0 controls but tab, LF and CR, lone
# surrogates, U+FFFE/U+FFFF. A hostile wheel's name or message must not make the report unreadable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def _fails(p: PluginInfo, strict: bool) -> bool:
    return p.verdict in (INCOMPATIBLE, BROKEN) or (strict and (bool(p.warnings) or p.verdict == NOT_PLUGIN))


class JUnitError(TorchrackError):
    """``--junit FILE`` cannot be written."""


def _write_junit(path: str, plugins: list[PluginInfo], strict: bool) -> None:
    suite = ET.Element("testsuite", name="torchrack check", tests=str(len(plugins)))
    failures = 0
    for p in plugins:
        case = ET.SubElement(suite, "testcase", classname="torchrack.check", name=_xml(f"{p.name} {p.version}"))
        if _fails(p, strict):
            failures += 1
            msg = "; ".join(p.reasons or p.warnings)
            fail = ET.SubElement(case, "failure", message=_xml(f"{p.verdict}: {msg}"[:1000]))
            fail.text = _xml("\n".join(p.reasons + [f"warning: {w}" for w in p.warnings]))
        elif p.verdict in (DENIED, NOT_PLUGIN):
            ET.SubElement(case, "skipped", message=_xml(f"{p.verdict}: " + "; ".join(p.reasons)))
        if p.warnings:
            out = ET.SubElement(case, "system-out")
            out.text = _xml("\n".join(f"warning: {w}" for w in p.warnings))
    suite.set("failures", str(failures))
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise JUnitError(f"cannot write the JUnit report {path}: {folder} is a file, not a folder; "
                         "pass --junit a path in a folder")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise JUnitError(f"cannot write the JUnit report {path}: cannot create its folder {folder} "
                         f"({exc.strerror or exc}); pass --junit a path in a writable folder") from None
    try:
        ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
    except OSError as exc:
        raise JUnitError(f"cannot write the JUnit report {path}: {exc.strerror or exc}; pass --junit "
                         "the path of a writable file (its folder is created when missing)") from None


def _unreadable_wheel(path: str, exc: TorchrackError) -> PluginInfo:
    """The ``broken`` entry for a wheel that cannot be read; name and version from its file name
    (``{name}-{version}-...whl``) when it has that shape."""
    parts = Path(path).name[: -len(".whl")].split("-") if path.endswith(".whl") else []
    name, version = (parts[0], parts[1]) if len(parts) >= 5 and all(parts[:2]) else (Path(path).name, "unknown")
    return PluginInfo(name=name, version=version, location=path, verdict=BROKEN, reasons=[str(exc)])


def _vet_wheels(paths: list[str]) -> list[PluginInfo]:
    from torchrack.integrity._wheel import InvalidWheelError, vet_wheel
    from torchrack.plugins._trust import load_settings

    settings = load_settings()
    out = []
    for path in paths:
        try:
            out.append(vet_wheel(path, settings))
        except InvalidWheelError as exc:
            print(f"torchrack check: error: {exc}", file=sys.stderr)
            out.append(_unreadable_wheel(path, exc))
    return out


def run(args: argparse.Namespace) -> int:
    if args.wheels:
        from torchrack.integrity._wheel import installed_torch

        plugins, torch_version = _vet_wheels(args.wheels), installed_torch()
    else:
        reg = Registry.discover()
        plugins, torch_version = reg.plugins, reg.torch_version
    if args.dist:
        wanted = [next((p for p in plugins if p.canonical_name == canonical_dist(d)), None) for d in args.dist]
        missing = [d for d, p in zip(args.dist, wanted, strict=False) if p is None]
        if missing:
            print(
                f"torchrack check: error: no plugin distribution named {', '.join(missing)}",
                file=sys.stderr,
            )
            return 2
        plugins = [p for p in wanted if p is not None]
    if not args.static and not args.wheels:
        reg.probe(plugins)
    verdicts = (OK, INCOMPATIBLE, BROKEN, DENIED) + ((NOT_PLUGIN,) if args.wheels else ())
    counts = {v: sum(p.verdict == v for p in plugins) for v in verdicts}
    n_warn = sum(len(p.warnings) for p in plugins)
    failed = any(_fails(p, args.strict) for p in plugins)
    junit_error = None
    if args.junit:
        try:
            _write_junit(args.junit, plugins, args.strict)
        except JUnitError as exc:
            junit_error = str(exc)
    if args.json:
        report: dict[str, Any] = {
            "torchrack": __version__,
            "api_version": API_VERSION,
            "torch": torch_version,
            "strict": args.strict,
            "passed": not failed and junit_error is None,
            "counts": counts,
            "warnings": n_warn,
            "plugins": [p.to_json() for p in plugins],
        }
        print_json(report)
    else:
        for p in plugins:
            print(f"{p.verdict:<13} {p.name} {p.version} ({len(p.components)} components)")
            for r in p.reasons:
                print(f"    - {r}")
            if p.import_error:
                for link in p.import_error["chain"][1:]:
                    print(f"      caused by {link}")
            for w in p.warnings:
                print(f"    warning: {w}")
        summary = ", ".join(f"{n} {v}" for v, n in counts.items())
        note = ""
        if counts.get(NOT_PLUGIN) and not args.strict:
            note = " (not-a-plugin wheels are not failures; --strict fails on them)"
        print(f"\ntorchrack check{' --strict' if args.strict else ''}: {summary}; {n_warn} warnings{note} "
              f"-> {'FAILED' if failed or junit_error else 'passed'}")
    if junit_error is not None:
        print(f"torchrack check: error: {junit_error}", file=sys.stderr)
        return 1
    return 1 if failed else 0
