"""digits' transfer params: classes (both splits) and labels_per_class (training only, seeded)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchrack_datasets import DatasetParamError
from torchrack_datasets.digits import Digits, read_digits


def test_classes_keep_only_those_digits_with_their_labels_in_both_splits() -> None:
    full, sub = Digits(), Digits(classes=[7, 2])
    for split in ("train", "test"):
        x_all, y_all = full.load(split)
        x, y = sub.load(split)
        keep = (y_all == 2) | (y_all == 7)
        assert torch.equal(x, x_all[keep]) and torch.equal(y, y_all[keep])
        assert set(y.tolist()) == {2, 7}


def test_labels_per_class_keeps_k_training_samples_each_seeded_and_the_test_split_whole() -> None:
    a = Digits(classes=[5, 6, 7, 8, 9], labels_per_class=10, label_seed=3)
    b = Digits(classes=[5, 6, 7, 8, 9], labels_per_class=10, label_seed=3)
    c = Digits(classes=[5, 6, 7, 8, 9], labels_per_class=10, label_seed=4)
    (xa, ya), (xb, yb), (xc, _) = a.load("train"), b.load("train"), c.load("train")
    assert torch.equal(xa, xb) and torch.equal(ya, yb) and not torch.equal(xa, xc)
    assert np.bincount(ya.numpy(), minlength=10).tolist() == [0] * 5 + [10] * 5
    _, y_train_all = Digits(classes=[5, 6, 7, 8, 9]).load("train")
    images, _ = read_digits()
    assert len(y_train_all) > 50 and len(images) == 1797
    assert torch.equal(a.load("test")[1], Digits(classes=[5, 6, 7, 8, 9]).load("test")[1])


def test_more_labels_per_class_than_a_class_has_keeps_them_all() -> None:
    x, y = Digits(classes=[0], labels_per_class=10_000).load("train")
    assert torch.equal(y, Digits(classes=[0]).load("train")[1])


@pytest.mark.parametrize("params", [{"classes": []}, {"classes": [10]}, {"classes": [1, 1]},
                                    {"labels_per_class": 0}])
def test_bad_subset_params_are_named(params: dict) -> None:
    with pytest.raises(DatasetParamError, match="digits: (classes|labels_per_class)"):
        Digits(**params)
