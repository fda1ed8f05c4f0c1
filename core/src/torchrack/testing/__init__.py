"""Conformance testing for torchrack plugins: what ``check_estimator`` is to scikit-learn.

Three ways in, one set of checks (:data:`CHECK_NAMES`):

- ``pytest --torchrack-conformance [--torchrack-dist NAME]``: the pytest plugin (registered
  through the ``pytest11`` entry point) adds one test per (component, check) of the installed
  plugins, with ids such as ``conformance[torchrack-losses:focal::finite_scalar]``;
- :func:`parametrize_conformance`: one test in a plugin's own suite that runs every check of its
  components::

      from torchrack.testing import parametrize_conformance

      @parametrize_conformance(dist="acme-losses")
      def test_conformance(torchrack_case):
          torchrack_case.run()

- :func:`check_component`: every check of one component, raising with every failure.

Known failures are declared, never silent: ``known_failures={"dist:name::check": "reason"}`` or
``[tool.torchrack.conformance] xfail`` in ``pyproject.toml``; they run as strict xfails.

Importing this package imports neither torch nor pytest; the checks import torch when they run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torchrack.plugins._registry import Registry
    from torchrack.testing._cases import (
        Case,
        ConformanceConfig,
        ConformanceConfigError,
        check_component,
        conformance_cases,
        load_config,
    )
    from torchrack.testing._catalog import CHECKS
    from torchrack.testing._subject import ConformanceFailure, Result

__all__ = [
    "CHECKS",
    "CHECK_NAMES",
    "Case",
    "ConformanceConfig",
    "ConformanceConfigError",
    "ConformanceFailure",
    "Result",
    "check_component",
    "conformance_cases",
    "load_config",
    "parametrize_conformance",
]

#: Every check, in the order they run: the per-distribution ``manifest`` check, then the
#: per-component checks (each applies to some kinds; see ``CHECKS[name].kinds``). ``compile`` is
#: opt-in: ``compile = true`` in ``[tool.torchrack.conformance]``, ``--torchrack-compile``,
#: ``TORCHRACK_CONFORMANCE_COMPILE=1`` or ``compile=True`` here.
CHECK_NAMES: tuple[str, ...] = (
    "manifest", "specs", "params_schema", "global_state", "instantiate", "outputs_cpu",
    "outputs_meta", "deterministic", "no_inplace", "device_move", "gradients", "finite_scalar",
    "batching", "state_sum", "availability", "optimizer_step", "optimizer_state", "lr_schedule",
    "scheduler_state", "calibration_fit", "calibrator_state", "compile",
)

_LAZY = {
    "Case": "torchrack.testing._cases",
    "ConformanceConfig": "torchrack.testing._cases",
    "ConformanceConfigError": "torchrack.testing._cases",
    "check_component": "torchrack.testing._cases",
    "conformance_cases": "torchrack.testing._cases",
    "load_config": "torchrack.testing._cases",
    "CHECKS": "torchrack.testing._catalog",
    "ConformanceFailure": "torchrack.testing._subject",
    "Result": "torchrack.testing._subject",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'torchrack.testing' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def parametrize_conformance(
    dist: str | Iterable[str] | None = None,
    *,
    known_failures: Mapping[str, str] | Iterable[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    sizes: Mapping[str, int] | None = None,
    registry: Registry | None = None,
    argname: str = "torchrack_case",
    compile: bool | None = None,
) -> Callable[[Any], Any]:
    """``pytest.mark.parametrize`` over every conformance case of ``dist`` (default: all).

    The test gets a :class:`Case` as ``argname`` and calls ``case.run()``. Ids are
    ``dist:name::check``; each known failure (``known_failures`` plus ``[tool.torchrack.
    conformance] xfail`` of ./pyproject.toml) is marked ``xfail(strict=True)`` with its reason.
    ``compile=True`` adds the opt-in ``compile`` check (None: ``TORCHRACK_CONFORMANCE_COMPILE``,
    then ``compile`` of ``[tool.torchrack.conformance]``).
    """
    import pytest

    from torchrack.testing._cases import conformance_cases
    from torchrack.testing._subject import ConformanceFailure

    cases = conformance_cases(dist, registry=registry, known_failures=known_failures, params=params, sizes=sizes,
                              compile=compile)
    values = [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(reason=case.known_failure, strict=True, raises=ConformanceFailure)]
            if case.known_failure else [],
        )
        for case in cases
    ]
    return pytest.mark.parametrize(argname, values)
