"""The pip commands of a CI workflow or a guide, and whether one would install a bare ``torch``.

A bare ``torch`` (unpinned, or from PyPI) on Linux is the multi-GB CUDA build: every ``pip install``
that names torch must pin it (``torch==X``) and take it from PyTorch's CPU index.
"""

from __future__ import annotations

import re
import shlex

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

CPU_INDEX = "https://download.pytorch.org/whl/cpu"

#: pip options that take a value (the next argument, or ``--opt=value``).
_WITH_VALUE = {
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-r", "--requirement",
    "-c", "--constraint", "-e", "--editable", "-w", "--wheel-dir", "-t", "--target", "--prefix",
    "--root", "--config-settings", "-C", "--python-version", "--platform", "--implementation",
    "--abi", "--only-binary", "--no-binary", "--progress-bar", "--timeout", "--retries", "--cert",
    "--trusted-host", "--src", "--upgrade-strategy", "--report",
}


def pip_commands(text: str) -> list[list[str]]:
    """Every ``pip install`` / ``pip wheel`` command in ``text`` (comment lines left out), split
    like a shell does: ``["pip", "install", "--index-url", URL, "torch==2.13.0"]``."""
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        m = re.search(r"\b(?:python -m )?pip (install|wheel)\b.*", stripped)
        if m:
            cmd = m[0].split(" #", 1)[0]  # an inline comment
            found.append(shlex.split(cmd.replace("python -m pip", "pip", 1)))
    return found


def split_args(argv: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """``(options -> values, requirement and path arguments)`` of one pip command."""
    options: dict[str, list[str]] = {}
    targets: list[str] = []
    args = iter(argv[2:])
    for arg in args:
        if arg.startswith("-"):
            name, eq, value = arg.partition("=")
            if name in _WITH_VALUE:
                options.setdefault(name, []).append(value if eq else next(args, ""))
            else:
                options.setdefault(name, []).append("")
        else:
            targets.append(arg)
    return options, targets


def torch_requirements(argv: list[str]) -> list[Requirement]:
    """The requirements on ``torch`` that one pip command names (paths and ``.[extra]`` are not)."""
    out = []
    for target in split_args(argv)[1]:
        try:
            req = Requirement(target)
        except InvalidRequirement:
            continue  # a path, ".[test]", a URL
        if canonicalize_name(req.name) == "torch":
            out.append(req)
    return out


def bare_torch(argv: list[str]) -> str | None:
    """Why this pip command would install a bare torch, or None when it would not."""
    reqs = torch_requirements(argv)
    if not reqs:
        return None
    options = split_args(argv)[0]
    for req in reqs:
        pins = [s for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
        if not pins:
            return f"{shlex.join(argv)}: torch is not pinned to one version ({req})"
    indexes = options.get("--index-url", []) + options.get("-i", [])
    if [i.rstrip("/") for i in indexes] != [CPU_INDEX]:
        return f"{shlex.join(argv)}: torch does not come from --index-url {CPU_INDEX} alone"
    if options.get("--extra-index-url") or options.get("-f") or options.get("--find-links"):
        return f"{shlex.join(argv)}: another source next to the CPU index could serve a CUDA torch"
    return None
