"""The pytest plugin (``pytest11`` entry point ``torchrack``): ``--torchrack-conformance``.

With ``--torchrack-conformance``, one test item per conformance case of the installed plugin
distributions (``--torchrack-dist NAME``, repeatable, limits them; ``--torchrack-compile`` adds the
opt-in ``compile`` check) is added to the session, marked
``torchrack_conformance`` (``-m torchrack_conformance`` runs them alone) with ids such as
``conformance[torchrack-losses:focal::finite_scalar]``. Known failures come from
``[tool.torchrack.conformance]`` in the rootdir's ``pyproject.toml`` and run as strict xfails. The
terminal summary counts the checks that ran. Without the option, this plugin does nothing, and it
imports torch only when the option is given.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from torchrack.testing._cases import Case

MARKER = "torchrack_conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("torchrack", "torchrack plugin conformance")
    group.addoption(
        "--torchrack-conformance", action="store_true", default=False,
        help="add a conformance test per (component, check) of the installed torchrack plugins",
    )
    group.addoption(
        "--torchrack-dist", action="append", default=[], metavar="NAME",
        help="limit --torchrack-conformance to this plugin distribution (repeatable)",
    )
    group.addoption(
        "--torchrack-compile", action="store_true", default=None,
        help="also run the opt-in `compile` check (torch.compile(fullgraph=True), no graph break, "
             "same outputs as eager); default: `compile` of [tool.torchrack.conformance]",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: a torchrack conformance check (added by --torchrack-conformance)"
    )
    if config.getoption("torchrack_conformance"):
        config.pluginmanager.register(_Counter(), "torchrack-conformance-counter")


class ConformanceItem(pytest.Item):
    """One conformance case run as a test."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.add_marker(MARKER)
        if case.known_failure:
            from torchrack.testing._subject import ConformanceFailure

            self.add_marker(pytest.mark.xfail(reason=case.known_failure, strict=True, raises=ConformanceFailure))

    def runtest(self) -> None:
        self.case.run()

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from torchrack.testing._subject import ConformanceFailure

        if isinstance(excinfo.value, ConformanceFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"torchrack conformance {self.case.id}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("torchrack_conformance"):
        return
    from torchrack._errors import TorchrackError
    from torchrack.testing._cases import conformance_cases, load_config

    dists = config.getoption("torchrack_dist") or None
    try:
        cases = conformance_cases(dists, config=load_config(config.rootpath / "pyproject.toml"),
                                  compile=config.getoption("torchrack_compile"))
    except TorchrackError as exc:
        raise pytest.UsageError(f"--torchrack-conformance: {exc}") from None
    for case in cases:
        items.append(ConformanceItem.from_parent(session, name=f"conformance[{case.id}]", case=case))


class _Counter:
    """Counts the outcomes of conformance items and writes them in the terminal summary."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if MARKER not in report.keywords:
            return
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            if hasattr(report, "wasxfail"):
                self.counts["xfailed" if report.skipped else "xpassed"] += 1
            else:
                self.counts[report.outcome] += 1

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        total = sum(self.counts.values())
        ran = total - self.counts["skipped"]
        detail = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))
        terminalreporter.write_sep("-", "torchrack conformance")
        terminalreporter.write_line(
            f"torchrack conformance: {ran} checks ran of {total} ({detail or 'none collected'})"
        )
