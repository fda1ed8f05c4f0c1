"""Behaviour of the __NAME__ __KIND__ beyond the conformance checks."""

from __future__ import annotations

import math

import torch

from __PACKAGE__.__NAME__ import __CLASS__


def test_the_fitted_temperature_makes_the_confidence_the_accuracy() -> None:
    # Four samples with the same logits [4, 0], three of them right: the best calibrated
    # confidence is 3/4, sigmoid(4 / T) = 3/4, so T = 4 / ln 3.
    logits = torch.tensor([[4.0, 0.0]] * 4)
    calibrator = __CLASS__().fit(logits, torch.tensor([0, 0, 0, 1]))
    assert math.isclose(float(calibrator.temperature), 4 / math.log(3), rel_tol=1e-4)
    assert math.isclose(float(calibrator(logits).softmax(dim=1)[0, 0]), 0.75, rel_tol=1e-4)
