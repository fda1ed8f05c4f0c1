"""torchrack-optim: first-party optimizers and LR schedulers, registered as torchrack components.

Optimizers (``torchrack.optimizers``): ``sgd``, ``adam``, ``adamw``, ``rmsprop``, ``adagrad`` and
``lion``; each entry point takes its params and returns ``build(param_groups) -> Optimizer``.
Schedulers (``torchrack.schedulers``): ``constant``, ``step``, ``multistep``, ``exponential``,
``cosine``, ``warmup_cosine``, ``onecycle`` and ``reduce_on_plateau``; each entry point takes its
params and returns ``build(optimizer, *, epochs, steps_per_epoch)`` with an ``interval``.
"""

from __future__ import annotations

__all__: list[str] = []
