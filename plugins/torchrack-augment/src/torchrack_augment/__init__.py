"""torchrack-augment: batched, seeded augmentations on whole batch tensors, on any device.

The classes here are the registered components; :mod:`torchrack_augment.functional` holds the
kernels they call.
"""

from __future__ import annotations

from torchrack_augment._errors import AugmentationInputError, AugmentationParamError
from torchrack_augment.transforms import (
    Augmentation,
    BrightnessContrast,
    CenterCrop,
    CutMix,
    Cutout,
    HFlip,
    MixUp,
    Normalize,
    RandomCrop,
    RandomResizedCrop,
    RandomTranslate,
    Resize,
    VFlip,
)

__all__ = [
    "Augmentation",
    "AugmentationInputError",
    "AugmentationParamError",
    "BrightnessContrast",
    "CenterCrop",
    "CutMix",
    "Cutout",
    "HFlip",
    "MixUp",
    "Normalize",
    "RandomCrop",
    "RandomResizedCrop",
    "RandomTranslate",
    "Resize",
    "VFlip",
]
