"""Every torchrack conformance check, on every calibrator of torchrack-calibrators."""

from __future__ import annotations

from torchrack.testing import Case, parametrize_conformance


@parametrize_conformance(dist="torchrack-calibrators")
def test_conformance(torchrack_case: Case) -> None:
    torchrack_case.run()
