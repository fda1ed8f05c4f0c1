"""torchrack-calibrators: first-party calibrators, fitted on held-out logits.

Each calibrator has ``fit(logits [N, K], targets [N]) -> self``, ``calibrator(logits) -> logits``
(calibrated logits: their softmax are the calibrated probabilities), ``state_dict()`` (the fitted
parameters, a dict of tensors) and ``load_state_dict(state)``; see docs/plugin-contract.md.
"""

from __future__ import annotations

from torchrack_calibrators._fit import CalibrationError, minimise_nll
from torchrack_calibrators.temperature import TemperatureScaling
from torchrack_calibrators.vector import VectorScaling

__all__ = ["CalibrationError", "TemperatureScaling", "VectorScaling", "minimise_nll"]
