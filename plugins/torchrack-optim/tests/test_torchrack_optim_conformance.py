"""Every torchrack conformance check, on every optimizer and scheduler of torchrack-optim."""

from __future__ import annotations

from torchrack.testing import Case, parametrize_conformance


@parametrize_conformance(dist="torchrack-optim")
def test_conformance(torchrack_case: Case) -> None:
    torchrack_case.run()
