"""The calibrators against hand computations on small fixed cases, and their errors."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torchrack import Registry
from torchrack_calibrators import CalibrationError, TemperatureScaling, VectorScaling

DIST = "torchrack-calibrators"


def _cardano_root(p: float, q: float) -> float:
    """The real root of u^3 + p u + q = 0 (one real root when q^2/4 + p^3/27 > 0)."""
    d = math.sqrt(q * q / 4 + p**3 / 27)
    return math.cbrt(-q / 2 + d) + math.cbrt(-q / 2 - d)


def test_the_temperature_of_a_two_sample_case_is_the_hand_computed_optimum() -> None:
    # Sample 1: logits [2, 0], class 0 (right); sample 2: logits [1, 0], class 1 (wrong).
    # With s = 1/T the NLL is log(1 + e^(-2s)) + log(1 + e^s); its derivative is zero where
    # 1 / (1 + e^-s) = 2 / (1 + e^2s), i.e. u = e^s solves u^3 - u - 2 = 0.
    logits = torch.tensor([[2.0, 0.0], [1.0, 0.0]])
    targets = torch.tensor([0, 1])
    u = _cardano_root(-1.0, -2.0)
    assert math.isclose(u**3 - u - 2, 0.0, abs_tol=1e-12)
    expected_t = 1 / math.log(u)
    calibrator = TemperatureScaling().fit(logits, targets)
    assert math.isclose(float(calibrator.state_dict()["temperature"]), expected_t, rel_tol=1e-6)

    def nll(t: float) -> float:
        return math.log1p(math.exp(-2 / t)) + math.log1p(math.exp(1 / t))

    got = float(torch.nn.functional.cross_entropy(calibrator(logits), targets, reduction="sum"))
    assert math.isclose(got, nll(expected_t), rel_tol=1e-6)
    assert got < nll(1.0)  # lower than the logits as they were


def test_temperature_scaling_keeps_the_predictions_and_the_dtype() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 4, generator=gen) * 5
    targets = torch.randint(0, 4, (50,), generator=gen)
    calibrator = TemperatureScaling().fit(logits, targets)
    out = calibrator(logits)
    assert out.dtype == logits.dtype and out.shape == logits.shape
    assert torch.equal(out.argmax(1), logits.argmax(1))
    assert float(calibrator.temperature) > 1  # random labels: confident logits are cooled


def test_all_correct_held_out_data_sharpens_within_the_bounds() -> None:
    # Every prediction right: the NLL falls as T -> 0, so T only shrinks (never below t_min).
    logits = torch.tensor([[3.0, 0.0], [0.0, 3.0]])
    targets = torch.tensor([0, 1])
    free = TemperatureScaling().fit(logits, targets)
    assert float(free.temperature) < 0.5
    bounded = TemperatureScaling(t_min=0.8).fit(logits, targets)
    assert float(bounded.temperature) == 0.8


def test_vector_scaling_learns_the_class_prior_of_constant_logits() -> None:
    # Logits all zero, three samples of class 0 and one of class 1: the best probabilities are
    # (3/4, 1/4), so the fitted offsets differ by log 3 (the weights multiply zeros).
    logits = torch.zeros(4, 2)
    targets = torch.tensor([0, 0, 0, 1])
    calibrator = VectorScaling(l2=0.0).fit(logits, targets)
    state = calibrator.state_dict()
    assert math.isclose(float(state["bias"][0] - state["bias"][1]), math.log(3), rel_tol=1e-5)
    probs = calibrator(logits).softmax(dim=1)
    assert torch.allclose(probs, torch.tensor([[0.75, 0.25]] * 4), atol=1e-6)
    assert TemperatureScaling().fit(logits, targets)(logits).softmax(1)[0, 0] == 0.5  # cannot


def test_vector_scaling_without_bias_is_per_class_temperature() -> None:
    logits = torch.tensor([[2.0, 0.0], [1.0, 0.0]])
    calibrator = VectorScaling(bias=False).fit(logits, torch.tensor([0, 1]))
    assert torch.equal(calibrator.state_dict()["bias"], torch.zeros(2, dtype=torch.float64))
    assert calibrator.state_dict()["weight"].shape == (2,)


def test_unfitted_calibrators_leave_the_logits_alone_and_states_round_trip() -> None:
    logits = torch.randn(3, 5, generator=torch.Generator().manual_seed(1))
    for calibrator in (TemperatureScaling(), VectorScaling()):
        assert torch.equal(calibrator(logits), logits)
    fitted = VectorScaling().fit(logits, torch.tensor([0, 1, 2]))
    again = VectorScaling()
    again.load_state_dict(fitted.state_dict())
    assert torch.equal(again(logits), fitted(logits))


@pytest.mark.parametrize(("logits", "targets", "expected"), [
    (torch.zeros(4), torch.zeros(4, dtype=torch.int64), "logits [N, K] of a floating dtype"),
    (torch.zeros(4, 3), torch.zeros(3, dtype=torch.int64), "targets [N] of class indices"),
    (torch.zeros(4, 3), torch.full((4,), 3), "targets must lie in [0, 3)"),
    (torch.zeros(0, 3), torch.zeros(0, dtype=torch.int64), "at least one held-out sample"),
    (torch.full((2, 3), float("nan")), torch.zeros(2, dtype=torch.int64), "finite logits"),
])
def test_bad_held_out_data_is_refused_with_what_was_found(
    logits: torch.Tensor, targets: torch.Tensor, expected: str
) -> None:
    for calibrator in (TemperatureScaling(), VectorScaling()):
        with pytest.raises(CalibrationError, match=re.escape(expected)):
            calibrator.fit(logits, targets)


def test_a_vector_calibrator_for_other_classes_says_so() -> None:
    fitted = VectorScaling().fit(torch.zeros(2, 3), torch.tensor([0, 1]))
    with pytest.raises(CalibrationError, match=r"fitted for 3 classes, given logits \[2, 4\]"):
        fitted(torch.zeros(2, 4))


def test_both_are_registered_with_the_calibrator_kind() -> None:
    registry = Registry.discover()
    names = {c.name for c in registry.components("calibrator") if c.dist == DIST}
    assert names == {"temperature", "vector"}
    comp = registry.resolve("calibrator", f"{DIST}:temperature")
    assert registry.load(comp) is TemperatureScaling


def test_the_l2_penalty_keeps_vector_scaling_from_running_away_on_separable_data() -> None:
    # Every held-out prediction right: the NLL alone falls as w grows without bound.
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(40, 3, generator=gen)
    targets = logits.argmax(dim=1)
    free = VectorScaling(l2=0.0, max_iter=500).fit(logits, targets).state_dict()["weight"]
    held = VectorScaling().fit(logits, targets).state_dict()["weight"]
    assert float(held.abs().max()) < 5 < float(free.abs().max())
