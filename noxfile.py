"""nox sessions: tests, lint, typecheck, isolation (each plugin alone with the core), demo, bench,
dist (the wheelhouse: a wheel and an sdist of every distribution in dist/).

Every session installs torch==2.13.0 explicitly first (the CPU build on this project's machines),
so no session lets pip resolve a bare `torch` (which would pull a multi-GB CUDA build).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())
TORCH = "torch==2.13.0"


def _install_all(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-r", "requirements-dev.txt")
    session.install("-e", "core", *[f"-e./plugins/{p}" for p in PLUGINS])


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite against the core and every first-party plugin."""
    _install_all(session)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over everything, and the architecture's import rules (lint-imports, pyproject.toml)."""
    session.install("ruff>=0.6", "import-linter>=2.0")
    # import-linter reads the source of the installed packages; it imports none of them, so no
    # dependency (torch) is needed.
    session.install("--no-deps", "-e", "core", *[f"-e./plugins/{p}" for p in PLUGINS])
    session.run("ruff", "check", ".")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy (strict) on the core."""
    _install_all(session)
    session.run("mypy")


def _project(folder: str) -> dict[str, Any]:
    """The ``[project]`` table of ``folder``'s pyproject.toml (``core`` or ``plugins/NAME``)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    project: dict[str, Any] = tomllib.loads((ROOT / folder / "pyproject.toml").read_text("utf-8"))["project"]
    return project


def _first_party_deps(plugin: str) -> list[str]:
    """The plugins/ folders that ``plugin`` declares as dependencies (``torchrack-runs>=0.1``)."""
    import re

    project = _project(f"plugins/{plugin}")
    names = {re.split(r"[\s<>=!~;\[]", dep, maxsplit=1)[0].lower() for dep in project.get("dependencies", [])}
    return sorted(n for n in names if n != plugin and (ROOT / "plugins" / n / "pyproject.toml").is_file())


def _install_torch(session: nox.Session) -> None:
    """torch==2.13.0 into the session's virtualenv, or, where ``TORCHRACK_ISOLATION_TORCH_SITE``
    names a folder holding only that torch (``pip install --target``, as ``.ci/isolation`` makes it
    once for all sessions), a ``.pth`` file that puts the folder on the session's ``sys.path``.

    Unpacking torch is most of an isolation session's time (about 40 s of 70 on a 2-core machine);
    the shared folder holds torch and its own dependencies only, sits after the virtualenv's
    site-packages (anything the plugin installs there wins), and pip sees torch as installed, so a
    plugin's ``torch>=2.4`` is satisfied without a download.
    """
    shared = os.environ.get("TORCHRACK_ISOLATION_TORCH_SITE")
    if not shared:
        session.install(TORCH)
        return
    if not Path(shared, "torch").is_dir():
        session.error(f"TORCHRACK_ISOLATION_TORCH_SITE={shared} holds no torch; make it with "
                      f"`pip install --target {shared} {TORCH}` or unset it")
    purelib = session.run("python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                          silent=True)
    assert isinstance(purelib, str)
    Path(purelib.strip(), "_torchrack_shared_torch.pth").write_text(f"{shared}\n", "utf-8")


def _prebuilt_wheel(folder: str) -> str:
    """What to install for ``folder`` (``core`` or ``plugins/NAME``): its wheel from the folder that
    ``TORCHRACK_ISOLATION_WHEELS`` names (built once from this checkout by ``.ci/isolation``), else
    the folder itself (pip builds it)."""
    wheels = os.environ.get("TORCHRACK_ISOLATION_WHEELS")
    if not wheels:
        return f"./{folder}"
    name = _project(folder)["name"]
    found = sorted(Path(wheels).glob(f"{name.replace('-', '_')}-*.whl"))
    if len(found) != 1:
        raise RuntimeError(f"TORCHRACK_ISOLATION_WHEELS={wheels}: expected one wheel of {name}, "
                           f"found {len(found)}; rebuild the folder or unset the variable")
    return str(found[0])


@nox.session(name="isolation")
@nox.parametrize("plugin", PLUGINS)
def isolation(session: nox.Session, plugin: str) -> None:
    """One plugin alone with the core in a fresh virtualenv: it must install and pass its tests."""
    _install_torch(session)
    session.install("pytest>=8", "pytest-timeout>=2.2")
    # Its own dependencies, nothing else; first-party ones it names (torchrack-runs, for the ui)
    # come from this repository, never from the package index.
    ours = ["core", *(f"plugins/{dep}" for dep in _first_party_deps(plugin)), f"plugins/{plugin}"]
    session.install(*(_prebuilt_wheel(folder) for folder in ours))
    session.run("torchrack", "check", "--strict")
    session.run("pytest", f"plugins/{plugin}/tests", "-p", "no:cacheprovider",
                "--rootdir", f"plugins/{plugin}", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The main demo: train on the digits and show the recorded run."""
    _install_all(session)
    session.run("torchrack", "run", "examples/digits.toml")
    session.run("torchrack", "runs", "show", "latest")


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark (each prints one JSON line per configuration)."""
    _install_all(session)
    # kornia is the augment benchmark's reference, installed here only; --no-deps so that pip
    # cannot swap the pinned torch for another build.
    session.install("--no-deps", "kornia", "kornia-rs")
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        session.run("python", str(script), *session.posargs)


def distributions(root: Path = ROOT) -> list[Path]:
    """Every distribution of the repository: the core, then each folder of plugins/ with a pyproject.toml."""
    plugins = sorted(p for p in (root / "plugins").iterdir() if (p / "pyproject.toml").is_file())
    return [root / "core", *plugins]


def distribution_name(project: Path) -> str:
    """The normalized name of the distribution in ``project`` (``torchrack_runs``), as its files start."""
    import re

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    name = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    return re.sub(r"[-_.]+", "_", name).lower()


@nox.session
def dist(session: nox.Session) -> None:
    """A wheel and an sdist of every distribution in dist/: the wheelhouse (pip install --find-links dist/ ...)."""
    # Building needs hatchling only, never torch: wheels are built with --no-deps and without build
    # isolation, so pip resolves nothing (and cannot pull a bare `torch`).
    session.install("hatchling>=1.18")
    out = ROOT / "dist"
    out.mkdir(exist_ok=True)
    projects = distributions()
    names = [distribution_name(project) for project in projects]
    for stale in sorted(out.iterdir()):  # earlier builds of these distributions; nothing else
        if stale.is_file() and any(stale.name.startswith(f"{name}-") for name in names):
            stale.unlink()
    for project in projects:
        session.run("python", "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(project))
        with session.chdir(project):
            session.run("python", "-m", "hatchling", "build", "-t", "sdist", "-d", str(out))
    session.log(f"{len(projects)} distributions, wheel and sdist each, in {out}")
