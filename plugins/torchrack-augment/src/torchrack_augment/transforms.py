"""The configurable augmentations: ``Aug(**params)``, then ``aug(inputs, targets, generator=None)``.

Each class validates its params, samples per-sample params from a ``torch.Generator`` and calls a
kernel of :mod:`torchrack_augment.functional`. The generator is the one passed in (it must live on
the batch's device); without one, the augmentation's own generator, seeded by its ``seed`` param
(or, when ``seed`` is None, by a fresh nondeterministic seed), one per device. The global RNG is
never used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from torchrack_augment import _random
from torchrack_augment import functional as F
from torchrack_augment._errors import AugmentationInputError, AugmentationParamError

Batch = tuple[Tensor, Tensor]


def _require(ok: bool, who: str, message: str) -> None:
    if not ok:
        raise AugmentationParamError(f"{who}: {message}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _dtype_name(t: Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


class Augmentation:
    """Base: params validation in ``__init__``, batch checks and generator choice in ``__call__``."""

    name: ClassVar[str] = "augmentation"

    def __init__(self, seed: int | None = None) -> None:
        _require(seed is None or _is_int(seed), self.name, f"seed must be an integer, found {seed!r}")
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def generator_for(self, device: torch.device) -> torch.Generator:
        """This augmentation's own generator for ``device`` (CPU for ``meta``), made on first use."""
        if device.type == "meta":
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

    def _check(self, inputs: Tensor, targets: Tensor) -> None:
        if not isinstance(inputs, Tensor) or inputs.dim() != 4:
            found = list(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
            raise AugmentationInputError(
                f"{self.name}: expected inputs of shape [N, C, H, W], found {found}"
            )
        if not (inputs.is_floating_point() or inputs.dtype == torch.uint8):
            raise AugmentationInputError(
                f"{self.name}: expected floating or uint8 inputs, found {_dtype_name(inputs)}"
            )
        if not isinstance(targets, Tensor) or targets.dim() == 0 or targets.shape[0] != inputs.shape[0]:
            found = list(targets.shape) if isinstance(targets, Tensor) else type(targets).__name__
            raise AugmentationInputError(
                f"{self.name}: expected targets with one row per input ([{inputs.shape[0]}, ...]), "
                f"found {found}"
            )

    def __call__(self, inputs: Tensor, targets: Tensor, generator: torch.Generator | None = None) -> Batch:
        self._check(inputs, targets)
        gen = generator if generator is not None else self.generator_for(inputs.device)
        return self.forward(inputs, targets, gen)

    def forward(self, inputs: Tensor, targets: Tensor, generator: torch.Generator) -> Batch:
        raise NotImplementedError

    def _rand(self, n: int, inputs: Tensor, generator: torch.Generator) -> Tensor:
        return torch.rand(n, generator=_random.traced(generator), device=inputs.device)

    def _randint(self, high: int, n: int, inputs: Tensor, generator: torch.Generator) -> Tensor:
        return torch.randint(0, high, (n,), generator=_random.traced(generator), device=inputs.device)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


def _check_p(who: str, p: float) -> float:
    _require(isinstance(p, (int, float)) and 0.0 <= p <= 1.0, who, f"p must be in [0, 1], found {p!r}")
    return float(p)


class HFlip(Augmentation):
    """Mirror each sample left-right with probability ``p``."""

    name = "hflip"

    def __init__(self, p: float = 0.5, seed: int | None = None) -> None:
        super().__init__(seed)
        self.p = _check_p(self.name, p)

    def forward(self, inputs: Tensor, targets: Tensor, generator: torch.Generator) -> Batch:
        flags = self._rand(inputs.shape[0], inputs, generator) < self.p
        return F.hflip(inputs, flags), targets


class VFlip(HFlip):
    """Mirror each sample top-bottom with probability ``p``."""

    name = "vflip"

    def forward(self, inputs: Tensor, targets: Tensor, generator: torch.Generator) -> Batch:
        flags = self._rand(inputs.shape[0], inputs, generator) < self.p
        return F.vflip(inputs, flags), targets


def _check_mode(who: str, padding_mode: str) -> None:
    _require(
        padding_mode in ("zeros", "reflect"), who,
        f"padding_mode must be 'zeros' or 'reflect', found {padding_mode!r}",
    )


class RandomCrop(Augmentation):
    """Pad by ``padding`` (zeros or reflect), then crop ``size`` x ``size`` at a random offset."""

    name = "random_crop"

    def __init__(
        self,
        size: int = 32,
        padding: int = 4,
        padding_mode: str = "zeros",
        fill: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        _require(_is_int(size) and size >= 1, self.name, f"size must be an integer >= 1, found {size!r}")
        _require(_is_int(padding) and padding >= 0, self.name,
                 f"padding must be an integer >= 0, found {padding!r}")
        _check_mode(self.name, padding_mode)
        self.size, self.padding, self.padding_mode, self.fill = size, padding, padding_mode, fill

    def forward(self, inputs: Tensor, targets: Tensor, generator: torch.Generator) -> Batch:
        n, _, height, width = inputs.shape
        span_h = height + 2 * self.padding - self.size + 1
        span_w = width + 2 * self.padding - self.size + 1
        if span_h < 1 or span_w < 1:
            raise AugmentationInputError(
                f"{self.name}: crop size {self.size} is larger than the padded image "
                f"[{height + 2 * self.padding}, {width + 2 * self.padding}] (inputs [{height}, "
                f"{width}] + padding {self.padding}); lower size or raise padding"
            )
        top = self._randint(span_h, n, inputs, generator)
        left = self._randint(span_w, n, inputs, generator)
        out = F.crop(inputs, top, left, self.size, self.size, self.padding, self.padding_mode, self.fill)
        return out, targets


class RandomTranslate(Augmentation):
    """Shift each sample by a random whole number of pixels in [-max_shift, max_shift] per axis."""

    name = "random_translate"

    def __init__(
        self,
        max_shift: int = 4,
        padding_mode: str = "zeros",
        fill: float = 0.0,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        _require(_is_int(max_shift) and max_shift >= 0, self.name,
                 f"max_shift must be an integer >= 0, found {max_shift!r}")
        _check_mode(self.name, padding_mode)
        self.max_shift, self.padding_mode, self.fill = max_shift, padding_mode, fill

    def forward(self, inputs: Tensor, targets: Tensor, generator: torch.Generator) -> Batch:
        n = inputs.shape[0]
        span = 2 * self.max_shift + 1
        dy = self._randint(span, n, inputs, generator) - self.max_shift
        dx = self._randint(span, n, inputs, generator) - self.max_shift
        return F.translate(inputs, dy, dx, self.padding_mode, self.fill), targets


class Normalize(Augmentation):
    """``(x - mean) / std`` per channel; uint8 inputs are scaled to [0, 1] first (float32 out)."""

    name = "normalize"

    def __init__(self, mean: Sequence[float] = (0.5,), std: Sequence[float] = (0.5,)) -> None:
        super().__init__(None)
        mean, std = [float(m) for m in mean], [float(s) for s in std]
        _require(len(mean) >= 1 and len(std) >= 1, self.name, "mean and std need at least one value")
        _require(all(s > 0 for s in std), self.name, f"std values must be > 0, found {std}")
        self.mean, self.std = mean, std
        # (device, dtype, integer input) -> (bias, weight): built once per device, so a step on
        # a GPU never waits for a host-to-device copy of mean and std.
        self._affine: dict[tuple[str, torch.dtype, bool], tuple[Tensor, Tensor]] = {}

    def forward(self, inputs: Tensor, targets: Tensor, generator: torch.Generator) -> Batch:
        channels = inputs.shape[1]
        for label, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, channels):
                raise AugmentationInputError(
                    f"{self.name}: {label} has {len(values)} values, expected 1 or one per channel "
                    f"({channels}, from inputs {list(inputs.shape)})"
                )
        if inputs.device.type == "meta":
            return F.normalize(inputs, self.mean, self.std), targets
        integer = not inputs.is_floating_point()
        dtype = torch.float32 if integer else inputs.dtype
        key = (str(inputs.device), dtype, integer)
        if key not in self._affine:
            m = torch.as_tensor(self.mean, dtype=dtype, device=inputs.device).reshape(1, -1, 1, 1)
            s = torch.as_tensor(self.std, dtype=dtype, device=inputs.device).reshape(1, -1, 1, 1)
            self._affine[key] = (-m / s, (1.0 / 255.0 if integer else 1.0) / s)
        bias, weight = self._affine[key]
        x = inputs.to(dtype) if integer else inputs
        return torch.addcmul(bias, x, weight), targets  # same arithmetic as F.normalize

    def __call__(self, inputs: Tensor, targets: Tensor, generator: torch.Generator | None = None) -> Batch:
        self._check(inputs, targets)
        return self.forward(inputs, targets, generator)  # type: ignore[arg-type]


class Cutout(Augmentation):
    """With probability ``p``, set a ``size`` x ``size`` box (centre anywhere, clipped) to ``value``.

    DeVries & Taylor (2017).
    """

    name = "cutout"

    def __init__(self, size: int = 8, p: float = 1.0, value: float = 0.0, seed: int | None = None) -> None:
        super().__init__(seed)
        _require(_is_int(size) and size >= 0, self.name, f"size must be an integer >= 0, found {size!r}")
        self.size, self.p, self.value = size, _check_p(self.name, p), float(value)

    def forward(self, inputs: Tensor, targets: Tensor, generator: torch.Generator) -> Batch:
        n, _, height, width = inputs.shape
        cy = self._randint(height, n, inputs, generator)
        cx = self._randint(width, n, inputs, generator)
        applied = self._rand(n, inputs, generator) < self.p
        extent = applied.to(torch.int64) * self.size
        top, left = cy - self.size // 2, cx - self.size // 2
        return F.erase(inputs, top, left, extent, extent, self.value), targets


class BrightnessContrast(Augmentation):
    """With probability ``p``, scale brightness by U[1-b, 1+b] then contrast by U[1-c, 1+c]."""

    name = "brightness_contrast"

    def __init__(
        self,
        brightness: float = 0.2,
        contrast: float = 0.2,
        p: float = 1.0,
        clip: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        _require(0 <= brightness <= 1, self.name, f"brightness must be in [0, 1], found {brightness!r}")
        _require(0 <= contrast <= 1, self.name, f"contrast must be in [0, 1], found {contrast!r}")
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.p, self.clip = _check_p(self.name, p), bool(clip)

    def forward(self, inputs: Tensor, targets: Tensor, generator: torch.Generator) -> Batch:
        n = inputs.shape[0]
        b = 1 + self.brightness * (2 * self._rand(n, inputs, generator) - 1)
        c = 1 + self.contrast * (2 * self._rand(n, inputs, generator) - 1)
        applied = self._rand(n, inputs, generator) < self.p
        b = torch.where(applied, b, torch.ones_like(b))
        c = torch.where(applied, c, torch.ones_like(c))
        return F.adjust_brightness_contrast(inputs, b, c, self.clip), targets


class _Mixing(Augmentation):
    def __init__(self, alpha: float = 1.0, num_classes: int = 10, seed: int | None = None) -> None:
        super().__init__(seed)
        _require(isinstance(alpha, (int, float)) and alpha > 0, self.name, f"alpha must be > 0, found {alpha!r}")
        _require(_is_int(num_classes) and num_classes >= 1, self.name,
                 f"num_classes must be an integer >= 1, found {num_classes!r}")
        self.alpha, self.num_classes = float(alpha), num_classes

    def _soft(self, targets: Tensor) -> Tensor:
        if targets.dim() == 1 and not targets.is_floating_point():
            return F.soft_targets(targets, self.num_classes)
        if targets.dim() == 2 and targets.is_floating_point() and targets.shape[1] == self.num_classes:
            return targets
        raise AugmentationInputError(
            f"{self.name}: expected targets as class indices [N] (integer) or soft targets "
            f"[N, {self.num_classes}] (floating, num_classes={self.num_classes}), found "
            f"{list(targets.shape)} {_dtype_name(targets)}"
        )

    def _perm(self, inputs: Tensor, generator: torch.Generator) -> Tensor:
        return torch.randperm(inputs.shape[0], generator=_random.traced(generator), device=inputs.device)


class MixUp(_Mixing):
    """Blend the batch with a shuffled copy of itself: ``lam ~ Beta(alpha, alpha)`` per batch.

    Zhang et al. (2018). Targets become soft targets ``[N, num_classes]`` float32.
    """

    name = "mixup"

    def forward(self, inputs: Tensor, targets: Tensor, generator: torch.Generator) -> Batch:
        soft = self._soft(targets)
        lam = _random.beta_tensor(self.alpha, generator, inputs.device)
        return F.mix(inputs, soft, self._perm(inputs, generator), lam)


class CutMix(_Mixing):
    """Paste one random box from a shuffled copy of the batch; targets mix by the box's area.

    Yun et al. (2019). The box covers ``1 - lam`` of the image, ``lam ~ Beta(alpha, alpha)``, with
    its centre uniform and its sides clipped to the image. Targets become soft ``[N, num_classes]``.
    """

    name = "cutmix"

    def forward(self, inputs: Tensor, targets: Tensor, generator: torch.Generator) -> Batch:
        soft = self._soft(targets)
        _, _, height, width = inputs.shape
        # The box as tensors (no Python int of a random size): torch.compile traces it.
        lam = _random.beta_tensor(self.alpha, generator, inputs.device)
        ratio = torch.sqrt(1.0 - lam)
        u = self._rand(2, inputs, generator)
        cy, cx = torch.floor(u[0] * height), torch.floor(u[1] * width)
        ch, cw = torch.floor(height * ratio), torch.floor(width * ratio)
        top, bottom = (cy - torch.floor(ch / 2)).clamp(min=0), (cy + ch - torch.floor(ch / 2)).clamp(max=height)
        left, right = (cx - torch.floor(cw / 2)).clamp(min=0), (cx + cw - torch.floor(cw / 2)).clamp(max=width)
        return F.paste_span(inputs, soft, self._perm(inputs, generator), top, bottom, left, right)


def _check_size(who: str, size: Any) -> int:
    _require(_is_int(size) and size >= 1, who, f"size must be an integer >= 1, found {size!r}")
    return int(size)


class Resize(Augmentation):
    """Resize every sample to ``size`` x ``size`` (``torch.nn.functional.interpolate``)."""

    name = "resize"

    def __init__(self, size: int = 224, mode: str = "bilinear", antialias: bool = True) -> None:
        super().__init__(None)
        self.size = _check_size(self.name, size)
        _require(mode in F.RESIZE_MODES, self.name,
                 f"mode must be one of {', '.join(map(repr, F.RESIZE_MODES))}, found {mode!r}")
        self.mode, self.antialias = mode, bool(antialias)

    def forward(self, inputs: Tensor, targets: Tensor, generator: torch.Generator) -> Batch:
        return F.resize(inputs, self.size, self.size, self.mode, self.antialias), targets

    def __call__(self, inputs: Tensor, targets: Tensor, generator: torch.Generator | None = None) -> Batch:
        self._check(inputs, targets)  # draws nothing: no generator needed
        return self.forward(inputs, targets, generator)  # type: ignore[arg-type]


class CenterCrop(Augmentation):
    """The central ``size`` x ``size`` window of every sample (for evaluation-style framing);
    images smaller than the window are zero-padded to it first (as torchvision's CenterCrop)."""

    name = "center_crop"

    def __init__(self, size: int = 224) -> None:
        super().__init__(None)
        self.size = _check_size(self.name, size)

    def forward(self, inputs: Tensor, targets: Tensor, generator: torch.Generator) -> Batch:
        return F.center_crop(inputs, self.size, self.size), targets

    def __call__(self, inputs: Tensor, targets: Tensor, generator: torch.Generator | None = None) -> Batch:
        self._check(inputs, targets)
        return self.forward(inputs, targets, generator)  # type: ignore[arg-type]


class RandomResizedCrop(Augmentation):
    """A random box per sample, resized to ``size`` x ``size`` (Szegedy et al. 2015's crop).

    Each box covers a share of the image area drawn uniformly from ``scale`` and has an aspect
    ratio (width / height) drawn log-uniformly from ``ratio``; sides are clamped to the image (so a
    box never needs a retry) and its position is uniform. Four uniform draws per sample, from the
    given generator; one ``grid_sample`` for the batch.
    """

    name = "random_resized_crop"

    def __init__(
        self,
        size: int = 224,
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        mode: str = "bilinear",
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.size = _check_size(self.name, size)
        scale, ratio = [float(v) for v in scale], [float(v) for v in ratio]
        _require(len(scale) == 2 and 0 < scale[0] <= scale[1] <= 1, self.name,
                 f"scale must be [low, high] with 0 < low <= high <= 1, found {scale}")
        _require(len(ratio) == 2 and 0 < ratio[0] <= ratio[1], self.name,
                 f"ratio must be [low, high] with 0 < low <= high, found {ratio}")
        _require(mode in ("bilinear", "nearest"), self.name,
                 f"mode must be 'bilinear' or 'nearest', found {mode!r}")
        self.scale, self.ratio, self.mode = scale, ratio, mode

    def forward(self, inputs: Tensor, targets: Tensor, generator: torch.Generator) -> Batch:
        n, _, height, width = inputs.shape
        u = torch.rand((4, n), generator=_random.traced(generator), device=inputs.device, dtype=torch.float64)
        area = (self.scale[0] + (self.scale[1] - self.scale[0]) * u[0]) * (height * width)
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(log_lo + (log_hi - log_lo) * u[1])
        w = torch.sqrt(area * aspect).round().clamp(1, width)
        h = torch.sqrt(area / aspect).round().clamp(1, height)
        top = torch.floor(u[2] * (height - h + 1)).clamp(max=height - h)
        left = torch.floor(u[3] * (width - w + 1)).clamp(max=width - w)
        return F.resized_crop(inputs, top, left, h, w, self.size, self.mode), targets
