"""torchrack-hf: Hugging Face transformers vision models as torchrack backbones (``hf_vision``).

:func:`describe` reads a model's facts (where it is, its type, F, channels, image size) from its
``config.json`` without importing transformers or building anything.
"""

from __future__ import annotations

from torchrack_hf._hub import HFModelError, ModelFacts, RemoteCodeError, cached_ids, describe, hub_cache

__all__ = ["HFModelError", "ModelFacts", "RemoteCodeError", "cached_ids", "describe", "hub_cache"]
