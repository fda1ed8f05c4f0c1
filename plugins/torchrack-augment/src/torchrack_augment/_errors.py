"""Errors of torchrack-augment; each names the augmentation, what was expected and what was found."""

from __future__ import annotations

from torchrack import TorchrackError


class AugmentationParamError(TorchrackError, ValueError):
    """An augmentation param outside its allowed range."""


class AugmentationInputError(TorchrackError, ValueError):
    """A batch that an augmentation cannot take (wrong rank, dtype, size or device)."""
