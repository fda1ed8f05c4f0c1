"""Behaviour of the __NAME__ __KIND__ beyond the conformance checks."""

from __future__ import annotations

import torch

from __PACKAGE__.__NAME__ import __CLASS__


def test_it_is_an_accelerator() -> None:
    from torchrack.accelerator import Accelerator

    acc = __CLASS__()
    assert isinstance(acc, Accelerator) and acc.is_available() and acc.is_main
    x, y = acc.prepare_batch(torch.ones(2), torch.zeros(2))
    assert x.device == acc.device
