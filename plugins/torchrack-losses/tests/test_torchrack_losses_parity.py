"""Numeric parity: cross_entropy vs torch, focal vs the published formula, bce and mse by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchrack_losses.bce import BCEWithLogitsLoss
from torchrack_losses.cross_entropy import CrossEntropyLoss
from torchrack_losses.focal import FocalLoss
from torchrack_losses.mse import MSELoss

N, K = 7, 5


def batch(
    seed: int = 0, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(N, K, generator=g, dtype=dtype) * 2
    hard = torch.randint(0, K, (N,), generator=g)
    soft = torch.rand(N, K, generator=g, dtype=dtype).softmax(dim=1)
    return logits, hard, soft


WEIGHTS = [0.5, 1.0, 2.0, 1.5, 0.25]


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("weight", [None, WEIGHTS])
@pytest.mark.parametrize("soft", [False, True])
def test_cross_entropy_matches_torch(smoothing: float, weight: list[float] | None, soft: bool) -> None:
    logits, hard, soft_t = batch()
    targets = soft_t if soft else hard
    loss = CrossEntropyLoss(label_smoothing=smoothing, weight=weight)(logits, targets)
    w = None if weight is None else torch.tensor(weight, dtype=logits.dtype)
    expected = F.cross_entropy(logits, targets, weight=w, label_smoothing=smoothing)
    torch.testing.assert_close(loss, expected)


def test_cross_entropy_one_hot_soft_equals_hard() -> None:
    logits, hard, _ = batch()
    ce = CrossEntropyLoss()
    torch.testing.assert_close(ce(logits, F.one_hot(hard, K).double()), ce(logits, hard))


def test_cross_entropy_hand_case() -> None:
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    targets = torch.tensor([0, 0])
    # p = [1/2, 1/2] and [3/4, 1/4]: loss = (log 2 + log 4/3) / 2
    expected = (math.log(2.0) + math.log(4.0 / 3.0)) / 2
    assert CrossEntropyLoss()(logits, targets).item() == pytest.approx(expected, rel=1e-6)


def focal_reference(
    logits: torch.Tensor, targets: torch.Tensor, gamma: float, alpha: float | list[float] | None
) -> torch.Tensor:
    """FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t), Lin et al. 2017 eq. (5), sample by sample."""
    total = 0.0
    for i in range(logits.shape[0]):
        exps = [math.exp(v) for v in logits[i].tolist()]
        probs = [e / sum(exps) for e in exps]
        if targets.dim() == 1:
            dist = [1.0 if c == int(targets[i]) else 0.0 for c in range(len(probs))]
        else:
            dist = targets[i].tolist()
        for c, q in enumerate(dist):
            if alpha is None:
                a = 1.0
            elif isinstance(alpha, list):
                a = alpha[c]
            else:
                a = alpha
            total += -q * a * (1 - probs[c]) ** gamma * math.log(probs[c])
    return torch.tensor(total / logits.shape[0], dtype=torch.float64)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("alpha", [None, 0.25, WEIGHTS])
@pytest.mark.parametrize("soft", [False, True])
def test_focal_matches_the_published_formula(
    gamma: float, alpha: float | list[float] | None, soft: bool
) -> None:
    logits, hard, soft_t = batch(seed=3)
    targets = soft_t if soft else hard
    loss = FocalLoss(gamma=gamma, alpha=alpha)(logits, targets)
    torch.testing.assert_close(loss, focal_reference(logits, targets, gamma, alpha))


@pytest.mark.parametrize("soft", [False, True])
def test_focal_with_gamma_zero_is_cross_entropy(soft: bool) -> None:
    logits, hard, soft_t = batch(seed=4)
    targets = soft_t if soft else hard
    torch.testing.assert_close(FocalLoss(gamma=0.0)(logits, targets), F.cross_entropy(logits, targets))


def test_focal_down_weights_easy_examples() -> None:
    easy = torch.tensor([[6.0, 0.0, 0.0]])
    hard_ = torch.tensor([[0.0, 0.2, 0.0]])
    y = torch.tensor([0])
    ce, fl = CrossEntropyLoss(), FocalLoss(gamma=2.0)
    assert fl(easy, y) / ce(easy, y) < fl(hard_, y) / ce(hard_, y) < 1.0


@pytest.mark.parametrize("pos_weight", [None, WEIGHTS])
def test_bce_matches_torch_and_one_hot_encodes_hard_targets(pos_weight: list[float] | None) -> None:
    logits, hard, _ = batch(seed=5)
    pw = None if pos_weight is None else torch.tensor(pos_weight, dtype=logits.dtype)
    expected = F.binary_cross_entropy_with_logits(logits, F.one_hot(hard, K).double(), pos_weight=pw)
    loss = BCEWithLogitsLoss(pos_weight=pos_weight)
    torch.testing.assert_close(loss(logits, hard), expected)
    multi = (torch.rand(N, K, generator=torch.Generator().manual_seed(1)) > 0.5).double()
    torch.testing.assert_close(
        loss(logits, multi), F.binary_cross_entropy_with_logits(logits, multi, pos_weight=pw)
    )


def test_bce_hand_case_and_smoothing() -> None:
    logits = torch.tensor([[0.0, math.log(3.0)]])
    y = torch.tensor([1])  # one-hot [0, 1]; sigmoid = [1/2, 3/4]
    expected = -(math.log(0.5) + math.log(0.75)) / 2
    assert BCEWithLogitsLoss()(logits, y).item() == pytest.approx(expected, rel=1e-6)
    smoothed = BCEWithLogitsLoss(label_smoothing=0.2)(logits, y)
    target = torch.tensor([[0.1, 0.9]])
    torch.testing.assert_close(smoothed, F.binary_cross_entropy_with_logits(logits, target))


def test_mse_on_probs_and_on_logits() -> None:
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    y = torch.tensor([1, 0])
    # probs [1/2, 1/2] vs [0, 1]; [3/4, 1/4] vs [1, 0]: squares 1/4, 1/4, 1/16, 1/16 -> mean 5/32
    assert MSELoss()(logits, y).item() == pytest.approx(5 / 32, rel=1e-6)
    soft = torch.tensor([[0.5, 0.5], [0.0, 1.0]])
    expected = ((logits - soft) ** 2).mean()
    torch.testing.assert_close(MSELoss(on="logits")(logits, soft), expected)
