"""Every torchrack conformance check, on every component of __DIST__ (one test id per check).

Ids look like ``test_conformance[__DIST__:__NAME__::finite_scalar]``. A check that cannot pass yet
is declared in pyproject.toml, ``[tool.torchrack.conformance] xfail``, with the reason: it then
runs as a strict xfail, which fails as soon as the check passes again.
"""

from torchrack.testing import Case, parametrize_conformance


@parametrize_conformance(dist="__DIST__")
def test_conformance(torchrack_case: Case) -> None:
    torchrack_case.run()
