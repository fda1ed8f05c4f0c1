"""The files of a new plugin distribution, per kind (used by :mod:`torchrack.authoring._scaffold`).

Tokens replaced on write: ``__DIST__`` (distribution name), ``__PACKAGE__`` (import name),
``__NAME__`` (component name), ``__CLASS__`` (its class), ``__KIND__``, ``__GROUP__``.
"""

from __future__ import annotations

from typing import Any

#: kind -> default component name and class name.
DEFAULT_COMPONENT: dict[str, tuple[str, str]] = {
    "dataset": ("blobs", "Blobs"),
    "augmentation": ("random_invert", "RandomInvert"),
    "backbone": ("tiny_cnn", "TinyCNN"),
    "head": ("linear_probe", "LinearProbe"),
    "loss": ("smoothed_ce", "SmoothedCrossEntropy"),
    "metric": ("error_rate", "ErrorRate"),
    "accelerator": ("cpu_threads", "CPUThreads"),
}

_FLOAT_IMAGES = {"shape": ["N", "C", "H", "W"], "dtype": "floating"}
_TARGETS = {"shape": ["N", "..."], "dtype": ["int64", "floating"],
            "description": "Class indices [N] or probabilities [N, K]."}
_LOGITS = {"shape": ["N", "K"], "dtype": "floating"}


def _p(type_: Any, default: Any, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, **extra, "default": default, "description": description}


#: kind -> the component's manifest entry, less version and summary.
MANIFEST: dict[str, dict[str, Any]] = {
    "dataset": {
        "params": {
            "num_classes": _p("integer", 3, "Number of classes (K).", minimum=1),
            "channels": _p("integer", 1, "Channels per image (C).", minimum=1),
            "size": _p("integer", 8, "Height and width of each image.", minimum=1),
            "train_size": _p("integer", 96, "Samples in the train split.", minimum=0),
            "test_size": _p("integer", 32, "Samples in the test split.", minimum=0),
            "seed": _p("integer", 0, "Seed of the data."),
        },
        "inputs": {},
        "outputs": {
            "inputs": {"shape": ["N", "$channels", "$size", "$size"], "dtype": "float32"},
            "targets": {"shape": ["N"], "dtype": "int64"},
        },
        "devices": ["cpu"],
    },
    "augmentation": {
        "params": {
            "p": _p("number", 0.5, "Probability per sample.", minimum=0, maximum=1),
            "seed": _p(["integer", "null"], None,
                       "Seed of its own generator, used when no generator is passed; null: random."),
        },
        "inputs": {"inputs": _FLOAT_IMAGES, "targets": {"shape": ["N", "..."], "dtype": "any"}},
        "outputs": {"inputs": _FLOAT_IMAGES, "targets": {"shape": ["N", "..."], "dtype": "any"}},
        "devices": ["cpu", "cuda", "meta"],
    },
    "backbone": {
        "params": {
            "in_channels": _p("integer", 3, "Channels of the input images (C).", minimum=1),
            "width": _p("integer", 16, "Feature size F (out_features).", minimum=1),
        },
        "inputs": {"inputs": {"shape": ["N", "$in_channels", "H", "W"], "dtype": "floating"}},
        "outputs": {"features": {"shape": ["N", "$width"], "dtype": "floating"}},
        "devices": ["cpu", "cuda", "meta"],
    },
    "head": {
        "params": {
            "in_features": _p("integer", 64, "F, the backbone's feature size.", minimum=1),
            "num_classes": _p("integer", 10, "K, the number of classes.", minimum=1),
            "dropout": _p("number", 0.0, "Dropout before the linear layer.", minimum=0, exclusiveMaximum=1),
        },
        "inputs": {"features": {"shape": ["N", "$in_features"], "dtype": "floating"}},
        "outputs": {"logits": {"shape": ["N", "$num_classes"], "dtype": "floating"}},
        "devices": ["cpu", "cuda", "meta"],
    },
    "loss": {
        "params": {
            "label_smoothing": _p("number", 0.1, "Share of the target mass spread over all classes.",
                                  minimum=0, maximum=1),
        },
        "inputs": {"logits": _LOGITS, "targets": _TARGETS},
        "outputs": {"loss": {"shape": [], "dtype": "floating"}},
        "devices": ["cpu", "cuda", "meta"],
    },
    "metric": {
        "params": {
            "top_k": _p("integer", 1, "A sample is right when its class is among the top k logits.", minimum=1),
        },
        "inputs": {"logits": _LOGITS, "targets": _TARGETS},
        "outputs": {},
        "devices": ["cpu", "cuda", "meta"],
    },
    "accelerator": {
        "params": {
            "threads": _p("integer", 0, "torch threads to use; 0 keeps torch's default.", minimum=0),
        },
        "inputs": {},
        "outputs": {},
        "devices": ["cpu"],
    },
}

SUMMARY: dict[str, str] = {
    "dataset": "Seeded synthetic images of class blobs, all in memory.",
    "augmentation": "Inverts images (1 - x) with probability p, per sample.",
    "backbone": "One 3x3 convolution, ReLU and global average pooling.",
    "head": "Dropout then one linear layer.",
    "loss": "Cross-entropy with label smoothing; hard or soft targets.",
    "metric": "Top-k error rate.",
    "accelerator": "One CPU process, with a chosen number of torch threads.",
}

CODE: dict[str, str] = {}

CODE["dataset"] = '''"""``__NAME__`` dataset: seeded synthetic images of class blobs, all in memory."""

from __future__ import annotations

import torch
from torch import Tensor


class __CLASS__:
    """Images ``[N, channels, size, size]`` (float32 in [0, 1]) and class indices ``[N]``.

    Each class has a random prototype; a sample is half its prototype, half noise. Every draw
    comes from a ``torch.Generator`` seeded by ``seed``, never from the global RNG, so the same
    params always give the same data.
    """

    splits: tuple[str, ...] = ("train", "test")

    def __init__(
        self,
        num_classes: int = 3,
        channels: int = 1,
        size: int = 8,
        train_size: int = 96,
        test_size: int = 32,
        seed: int = 0,
    ) -> None:
        for key, value in (("num_classes", num_classes), ("channels", channels), ("size", size)):
            if value < 1:
                raise ValueError(f"__NAME__ dataset: {key} must be >= 1, found {value}")
        self.num_classes = num_classes
        self.channels = channels
        self.size = size
        self.sizes = {"train": train_size, "test": test_size}
        self.seed = seed

    def load(self, split: str) -> tuple[Tensor, Tensor]:
        """The whole ``split``: ``(inputs [N, C, H, W] float32, targets [N] int64)``."""
        if split not in self.splits:
            raise KeyError(f"__NAME__ dataset: unknown split {split!r}; expected one of {self.splits}")
        gen = torch.Generator().manual_seed(self.seed)
        shape = (self.channels, self.size, self.size)
        prototypes = torch.rand(self.num_classes, *shape, generator=gen)
        gen.manual_seed(self.seed + 1 + self.splits.index(split))
        n = self.sizes[split]
        targets = torch.arange(n) % self.num_classes
        noise = torch.rand(n, *shape, generator=gen)
        return 0.5 * prototypes[targets] + 0.5 * noise, targets
'''

CODE["augmentation"] = '''"""``__NAME__`` augmentation: invert images (1 - x) with probability ``p``, per sample."""

from __future__ import annotations

import torch
from torch import Tensor


class __CLASS__:
    """``aug(inputs [N, C, H, W], targets, generator=None) -> (inputs, targets)``.

    Random numbers come only from ``generator`` (which lives on the batch's device) or, without
    one, from this augmentation's own generator seeded by ``seed``: never from the global RNG.
    The inputs are never changed in place.
    """

    def __init__(self, p: float = 0.5, seed: int | None = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"__NAME__ augmentation: p must be in [0, 1], found {p}")
        self.p = p
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def _own_generator(self, device: torch.device) -> torch.Generator:
        if device.type == "meta":  # a meta batch has no values: draw on the CPU
            device = torch.device("cpu")
        gen = self._generators.get(device)
        if gen is None:
            gen = torch.Generator(device=device)
            if self.seed is None:
                gen.seed()
            else:
                gen.manual_seed(self.seed)
            self._generators[device] = gen
        return gen

    def __call__(
        self, inputs: Tensor, targets: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        gen = generator if generator is not None else self._own_generator(inputs.device)
        flags = torch.rand(inputs.shape[0], generator=gen, device=gen.device) < self.p
        flags = flags.to(inputs.device).view(-1, *([1] * (inputs.dim() - 1)))
        return torch.where(flags, 1.0 - inputs, inputs), targets
'''

CODE["backbone"] = '''"""``__NAME__`` backbone: one 3x3 convolution, ReLU and global average pooling."""

from __future__ import annotations

import torch
from torch import nn


class __CLASS__(nn.Module):
    """``forward(inputs [N, in_channels, H, W]) -> features [N, width]``."""

    def __init__(self, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, kernel_size=3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_features = width

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.pool(torch.relu(self.conv(inputs))).flatten(1)
        return features
'''

CODE["head"] = '''"""``__NAME__`` head: dropout then one linear layer."""

from __future__ import annotations

import torch
from torch import nn


class __CLASS__(nn.Module):
    """``forward(features [N, in_features]) -> logits [N, num_classes]``."""

    def __init__(self, in_features: int = 64, num_classes: int = 10, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.fc(self.dropout(features))
        return logits
'''

CODE["loss"] = '''"""``__NAME__`` loss: cross-entropy with label smoothing, for hard or soft targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class __CLASS__(nn.Module):
    """``forward(logits [N, K], targets [N] int64 or [N, K] probabilities) -> loss []``."""

    def __init__(self, label_smoothing: float = 0.1) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"__NAME__ loss: label_smoothing must be in [0, 1], found {label_smoothing}")
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if not targets.is_floating_point():
            return F.cross_entropy(logits, targets, label_smoothing=self.label_smoothing)
        k = logits.shape[1]
        soft = targets * (1.0 - self.label_smoothing) + self.label_smoothing / k
        return -(soft * logits.log_softmax(dim=1)).sum(dim=1).mean()
'''

CODE["metric"] = '''"""``__NAME__`` metric: the share of samples whose class is not among the top-k logits."""

from __future__ import annotations

from collections.abc import Mapping

import torch


class __CLASS__:
    """A streaming metric: ``update`` per batch, ``compute() -> {"__NAME__": float}``.

    Its state (``errors``, ``count``) combines across processes by summing.
    """

    def __init__(self, top_k: int = 1) -> None:
        if top_k < 1:
            raise ValueError(f"__NAME__ metric: top_k must be >= 1, found {top_k}")
        self.top_k = top_k
        self.reset()

    def reset(self) -> None:
        self._errors = torch.zeros((), dtype=torch.int64)
        self._count = torch.zeros((), dtype=torch.int64)

    @torch.no_grad()
    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        labels = targets.argmax(dim=1) if targets.dim() == 2 else targets
        k = min(self.top_k, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hit = (top == labels.to(top.device).view(-1, 1)).any(dim=1)
        self._errors = self._errors.to(logits.device) + (~hit).sum()
        self._count = self._count.to(logits.device) + labels.shape[0]

    def state(self) -> dict[str, torch.Tensor]:
        return {"errors": self._errors.clone(), "count": self._count.clone()}

    def load_state(self, state: Mapping[str, torch.Tensor]) -> None:
        self._errors = torch.as_tensor(state["errors"]).clone()
        self._count = torch.as_tensor(state["count"]).clone()

    def compute(self) -> dict[str, float]:
        count = int(self._count)
        return {"__NAME__": float(self._errors) / count if count else float("nan")}
'''

CODE["accelerator"] = '''"""``__NAME__`` accelerator: one CPU process with a chosen number of torch threads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch


class __CLASS__:
    """Implements ``torchrack.accelerator.Accelerator`` for a single CPU process."""

    def __init__(self, threads: int = 0) -> None:
        if threads < 0:
            raise ValueError(f"__NAME__ accelerator: threads must be >= 0, found {threads}")
        self.threads = threads
        self.device = torch.device("cpu")
        self.rank = 0
        self.world_size = 1

    @property
    def is_main(self) -> bool:
        return True

    def is_available(self) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        return {"name": "__NAME__", "device": "cpu", "threads": self.threads or torch.get_num_threads()}

    def setup(self) -> None:
        if self.threads:
            torch.set_num_threads(self.threads)

    def teardown(self) -> None:
        return None

    def prepare_model(self, model: Any) -> Any:
        return model.to(self.device)

    def prepare_batch(self, inputs: Any, targets: Any) -> tuple[Any, Any]:
        return inputs, targets

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        yield

    def backward_step(self, loss: Any, optimizer: Any) -> None:
        loss.backward()
        optimizer.step()

    def shard(self, indices: Any) -> Any:
        return indices

    def reduce_sum(self, tensors: dict[str, Any]) -> dict[str, Any]:
        return tensors

    def barrier(self) -> None:
        return None
'''

#: kind -> a behaviour test of the component (beyond conformance).
BEHAVIOUR_TEST: dict[str, str] = {}

_HEADER = '''"""Behaviour of the __NAME__ __KIND__ beyond the conformance checks."""

from __future__ import annotations

import torch

from __PACKAGE__.__NAME__ import __CLASS__
'''

BEHAVIOUR_TEST["dataset"] = _HEADER + '''

def test_splits_are_balanced_and_repeatable() -> None:
    data = __CLASS__(num_classes=4, train_size=40)
    inputs, targets = data.load("train")
    assert inputs.shape == (40, 1, 8, 8) and targets.bincount().tolist() == [10, 10, 10, 10]
    assert torch.equal(inputs, __CLASS__(num_classes=4, train_size=40).load("train")[0])
'''

BEHAVIOUR_TEST["augmentation"] = _HEADER + '''

def test_p_one_inverts_every_sample_and_p_zero_none() -> None:
    x, y = torch.rand(4, 1, 2, 2), torch.arange(4)
    assert torch.equal(__CLASS__(p=1.0)(x, y)[0], 1.0 - x)
    assert torch.equal(__CLASS__(p=0.0)(x, y)[0], x)
'''

BEHAVIOUR_TEST["backbone"] = _HEADER + '''

def test_features_have_width_columns() -> None:
    net = __CLASS__(in_channels=1, width=5)
    assert net(torch.rand(2, 1, 6, 6)).shape == (2, 5) and net.out_features == 5
'''

BEHAVIOUR_TEST["head"] = _HEADER + '''

def test_logits_have_num_classes_columns() -> None:
    assert __CLASS__(in_features=6, num_classes=3)(torch.randn(2, 6)).shape == (2, 3)
'''

BEHAVIOUR_TEST["loss"] = _HEADER + '''

def test_confident_right_answers_cost_less_than_wrong_ones() -> None:
    loss = __CLASS__(label_smoothing=0.0)
    targets = torch.tensor([0, 1])
    right = torch.tensor([[5.0, -5.0], [-5.0, 5.0]])
    assert loss(right, targets) < 0.01 < loss(-right, targets)
    soft = torch.nn.functional.one_hot(targets, 2).float()
    assert torch.allclose(loss(right, soft), loss(right, targets))
'''

BEHAVIOUR_TEST["metric"] = _HEADER + '''

def test_error_rate_counts_misses() -> None:
    metric = __CLASS__()
    metric.update(torch.tensor([[2.0, 1.0], [2.0, 1.0], [0.0, 3.0], [0.0, 3.0]]), torch.tensor([0, 1, 1, 1]))
    assert metric.compute() == {"__NAME__": 0.25}
'''

BEHAVIOUR_TEST["accelerator"] = _HEADER + '''

def test_it_is_an_accelerator() -> None:
    from torchrack.accelerator import Accelerator

    acc = __CLASS__()
    assert isinstance(acc, Accelerator) and acc.is_available() and acc.is_main
    x, y = acc.prepare_batch(torch.ones(2), torch.zeros(2))
    assert x.device == acc.device
'''

CONFORMANCE_TEST = '''"""Every torchrack conformance check, on every component of __DIST__ (one test id per check).

Ids look like ``test_conformance[__DIST__:__NAME__::finite_scalar]``. A check that cannot pass yet
is declared in pyproject.toml, ``[tool.torchrack.conformance] xfail``, with the reason: it then
runs as a strict xfail, which fails as soon as the check passes again.
"""

from torchrack.testing import parametrize_conformance


@parametrize_conformance(dist="__DIST__")
def test_conformance(torchrack_case):
    torchrack_case.run()
'''

MANIFEST_TEST = '''"""The manifest says what the code does: `torchrack manifest check` finds no drift."""

from pathlib import Path

from torchrack.cli import main


def test_manifest_matches_the_code() -> None:
    assert main(["manifest", "check", str(Path(__file__).resolve().parents[1])]) == 0
'''

PYPROJECT = '''[build-system]
requires = ["hatchling>=1.18"]
build-backend = "hatchling.build"

[project]
name = "__DIST__"
version = "0.1.0"
description = "A torchrack plugin: the __NAME__ __KIND__."
readme = "README.md"
requires-python = ">=3.10"
# The torchrack range is how torchrack vets this plugin before importing it: keep an upper bound.
dependencies = ["torchrack>=0.1,<1", "torch>=2.4"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points."__GROUP__"]
__NAME__ = "__PACKAGE__.__NAME__:__CLASS__"

[tool.hatch.build.targets.wheel]
packages = ["src/__PACKAGE__"]

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.torchrack.conformance]
# Known failures run as strict xfails: "__DIST__:__NAME__::check" = "why, and the issue tracking it".
xfail = {}
'''

README = '''# __DIST__

A torchrack plugin providing the `__NAME__` __KIND__
(`__PACKAGE__.__NAME__:__CLASS__`, entry-point group `__GROUP__`).

## Use

    pip install __DIST__
    torchrack info __DIST__:__NAME__

and name it in an experiment config as `"__NAME__"` (or `"__DIST__:__NAME__"`).

## Develop

    pip install -e ".[test]"
    pytest                                   # behaviour tests + every conformance check
    torchrack check --strict --dist __DIST__ # the plugin is vetted as users will see it
    torchrack manifest check                 # the manifest still matches the code

After changing the constructor, `torchrack manifest generate` updates the params schema in
`src/__PACKAGE__/torchrack-manifest.json`; the tensor specs (`inputs`, `outputs`) are yours to keep
right, and the conformance tests check them.

## Release

Bump `version` in pyproject.toml (and the component's `version` in the manifest when its
behaviour changes), then build and vet the wheel before uploading it:

    pip wheel --no-deps -w dist .
    torchrack check dist/*.whl
'''

CI = '''# CI for a torchrack plugin: vet it, check the manifest against the code, run every test
# (the conformance checks included), then vet the built wheel as users will install it.
name: ci
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["3.10", "3.12"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python-version }}
      # torch first: pick the CPU build here to keep the job small (see PyTorch's install page).
      - run: pip install "torch>=2.4"
      - run: pip install ".[test]"
      - run: torchrack check --strict --dist __DIST__ --junit torchrack-check.xml
      - run: torchrack manifest check
      - run: pytest --junitxml=pytest.xml
      - run: pip wheel --no-deps -w dist .
      - run: torchrack check dist/*.whl
'''

GITIGNORE = """__pycache__/
*.egg-info/
.pytest_cache/
build/
dist/
.venv/
"""
