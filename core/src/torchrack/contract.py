"""Checking real (or ``meta``) tensors against declared tensor specs.

Kept as a public name; the functions live in :mod:`torchrack.contracts` beside the schemas and the
tensor specs they check against.
"""

from torchrack.contracts._check import check_tensor, check_tensors

__all__ = ["check_tensor", "check_tensors"]
