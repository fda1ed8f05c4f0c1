"""Metric values: hand-computed small cases, batch invariance, summable states."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torchrack_metrics._base import StreamingMetric
from torchrack_metrics.accuracy import Accuracy
from torchrack_metrics.confusion import ConfusionMatrix
from torchrack_metrics.ece import ECE
from torchrack_metrics.nll import NLL


def probs_logits(rows: list[list[float]]) -> torch.Tensor:
    """Logits whose softmax is exactly ``rows`` (log-probabilities)."""
    return torch.tensor(rows, dtype=torch.float64).log()


def test_accuracy_hand_case() -> None:
    logits = torch.tensor([[0.1, 0.5, 0.4], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.3, 0.4, 0.3]])
    targets = torch.tensor([1, 0, 1, 2])
    # top-1 predictions 1, 0, 2, 1 -> 2 of 4; top-2 sets {1,2}, {0,1|2}, {2,1}, {1,0|2}
    acc = Accuracy()
    acc.update(logits, targets)
    assert acc.compute() == {"accuracy": 0.5}
    top2 = Accuracy(top_k=2)
    top2.update(logits, targets)
    assert set(top2.compute()) == {"top2_accuracy"}
    # sample 4: scores [0.3, 0.4, 0.3], top-2 = {1, and the first 0.3}; target 2 may fall out
    expected = (3 + int(2 in logits[3].topk(2).indices.tolist())) / 4
    assert top2.compute()["top2_accuracy"] == expected
    top5 = Accuracy(top_k=5)  # k >= K: every sample counts
    top5.update(logits, targets)
    assert top5.compute() == {"top5_accuracy": 1.0}


def test_nll_hand_case() -> None:
    logits = probs_logits([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]])
    nll = NLL()
    nll.update(logits, torch.tensor([0, 2]))
    assert nll.compute()["nll"] == pytest.approx((math.log(2) + math.log(10)) / 2, rel=1e-6)


def test_ece_hand_case() -> None:
    # confidences 0.9 (correct), 0.7 (wrong), 0.5 (correct), 0.42 (wrong); 5 bins of width 0.2
    logits = probs_logits([[0.9, 0.05, 0.05], [0.7, 0.2, 0.1], [0.3, 0.5, 0.2], [0.28, 0.3, 0.42]])
    targets = torch.tensor([0, 1, 1, 0])
    ece = ECE(n_bins=5)
    ece.update(logits, targets)
    # bin (0.8, 1.0]: {0.9 correct}; bin (0.6, 0.8]: {0.7 wrong}; bin (0.4, 0.6]: {0.5 ok, 0.42 wrong}
    # ECE = (|1 - 0.9| + |0 - 0.7| + |1 - (0.5 + 0.42)|) / 4
    assert ece.compute()["ece"] == pytest.approx((0.1 + 0.7 + 0.08) / 4, rel=1e-9)
    counts = ece.state()["count"].tolist()
    assert counts == [0, 0, 2, 1, 1]
    one_bin = ECE(n_bins=1)  # a single bin: |accuracy - mean confidence|
    one_bin.update(logits, targets)
    assert one_bin.compute()["ece"] == pytest.approx(abs(0.5 - (0.9 + 0.7 + 0.5 + 0.42) / 4), rel=1e-9)
    lowp = ECE(n_bins=5)  # the same in float32, away from bin edges
    lowp.update(logits.float(), targets)
    assert lowp.compute()["ece"] == pytest.approx(0.22, rel=1e-5)


def test_ece_of_a_perfectly_calibrated_bin_is_zero() -> None:
    logits = probs_logits([[0.75, 0.25]] * 4)
    ece = ECE(n_bins=10)
    ece.update(logits, torch.tensor([0, 0, 0, 1]))
    assert ece.compute()["ece"] == pytest.approx(0.0, abs=1e-9)


def test_confusion_matrix_hand_case() -> None:
    logits = torch.eye(3)[[0, 1, 1, 2, 0, 2]]
    targets = torch.tensor([0, 1, 2, 2, 1, 0])
    cm = ConfusionMatrix(num_classes=3)
    cm.update(logits, targets)
    assert cm.compute() == {"confusion_matrix": [[1, 0, 1], [1, 1, 0], [0, 1, 1]]}


def test_confusion_matrix_skips_out_of_range_classes() -> None:
    cm = ConfusionMatrix(num_classes=2)
    cm.update(torch.eye(3), torch.tensor([0, 1, 1]))  # third prediction is class 2
    assert cm.compute() == {"confusion_matrix": [[1, 0], [0, 1]]}


def test_soft_targets_count_as_their_argmax() -> None:
    logits = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    hard = torch.arange(10) % 4
    soft = torch.nn.functional.one_hot(hard, 4).float() * 0.7 + 0.075
    for make in (Accuracy, NLL, ECE, lambda: ConfusionMatrix(num_classes=4)):
        a, b = make(), make()
        a.update(logits, hard)
        b.update(logits, soft)
        assert a.compute() == b.compute()


METRICS: list[tuple[str, Any]] = [
    ("accuracy", Accuracy),
    ("top3", lambda: Accuracy(top_k=3)),
    ("nll", NLL),
    ("ece", ECE),
    ("confusion_matrix", lambda: ConfusionMatrix(num_classes=6)),
]


def data(n: int = 97, k: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(42)
    return torch.randn(n, k, generator=g) * 2, torch.randint(0, k, (n,), generator=g)


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], float):
            assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12), key
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize(("label", "make"), METRICS)
def test_one_batch_or_many_give_the_same_result(label: str, make: Any) -> None:
    logits, targets = data()
    whole: StreamingMetric = make()
    whole.update(logits, targets)
    pieces: StreamingMetric = make()
    for chunk in (slice(0, 1), slice(1, 40), slice(40, 41), slice(41, 97)):
        pieces.update(logits[chunk], targets[chunk])
    assert_same(pieces.compute(), whole.compute())


@pytest.mark.parametrize(("label", "make"), METRICS)
def test_summed_states_of_two_halves_equal_the_whole(label: str, make: Any) -> None:
    logits, targets = data()
    whole, left, right, merged = make(), make(), make(), make()
    whole.update(logits, targets)
    left.update(logits[:50], targets[:50])
    right.update(logits[50:], targets[50:])
    ls, rs = left.state(), right.state()
    assert ls.keys() == rs.keys()
    merged.load_state({k: ls[k] + rs[k] for k in ls})
    assert_same(merged.compute(), whole.compute())
    for k, v in whole.state().items():
        torch.testing.assert_close(merged.state()[k], v)


@pytest.mark.parametrize(("label", "make"), METRICS)
def test_reset_forgets_and_state_is_a_copy(label: str, make: Any) -> None:
    logits, targets = data()
    m = make()
    empty = m.state()
    m.update(logits, targets)
    snapshot = m.state()
    for v in snapshot.values():
        v.zero_()
    assert any(bool((v != 0).any()) for v in m.state().values())
    m.reset()
    for k, v in m.state().items():
        assert torch.equal(v, empty[k])


@pytest.mark.parametrize(("label", "make"), METRICS)
def test_empty_metric_and_load_state_errors(label: str, make: Any) -> None:
    m = make()
    result = m.compute()
    for v in result.values():
        assert (isinstance(v, float) and math.isnan(v)) or v == [[0] * 6 for _ in range(6)]
    with pytest.raises(KeyError, match="load_state expects keys"):
        m.load_state({"bogus": torch.zeros(())})
    with pytest.raises(ValueError, match="targets must be"):
        m.update(torch.randn(3, 6), torch.zeros(4, dtype=torch.long))
