"""The streaming-metric base: sum-reducible state tensors, created and moved lazily."""

from __future__ import annotations

from collections.abc import Mapping

import torch


class StreamingMetric:
    """A metric whose state is a dict of tensors that combine across processes by summing.

    Subclasses define :meth:`_initial_state` (zeros) and :meth:`_update`, :meth:`compute`. The
    state follows the device of the tensors given to :meth:`update` (so a distributed all-reduce
    can run where the data is); :meth:`state` returns detached copies.
    """

    name = "metric"

    def __init__(self) -> None:
        self._state: dict[str, torch.Tensor] = {}
        self.reset()

    def _initial_state(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, float | list[list[int]]]:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget everything seen: the state is all zeros again."""
        self._state = self._initial_state()

    def state(self) -> dict[str, torch.Tensor]:
        """Copies of the state tensors; the sum of several processes' states is the total state."""
        return {k: v.detach().clone() for k, v in self._state.items()}

    def load_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Replace the state (e.g. with the sum of every process's :meth:`state`)."""
        init = self._initial_state()
        missing = sorted(set(init) - set(state))
        extra = sorted(set(state) - set(init))
        if missing or extra:
            raise KeyError(
                f"{self.name} metric: load_state expects keys {sorted(init)}; missing "
                f"{missing}, unexpected {extra}"
            )
        new = {}
        for k, ref in init.items():
            t = torch.as_tensor(state[k])
            if t.shape != ref.shape:
                raise ValueError(
                    f"{self.name} metric: state {k!r} must have shape {list(ref.shape)}, found "
                    f"{list(t.shape)}"
                )
            new[k] = t.detach().to(ref.dtype).clone()
        self._state = new

    @torch.no_grad()
    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """Add a batch: ``logits [N, K]`` and hard ``[N]`` or soft ``[N, K]`` targets (argmax)."""
        if logits.dim() != 2:
            raise ValueError(f"{self.name} metric: logits must be [N, K], found {list(logits.shape)}")
        if targets.dim() == 2 and targets.shape == logits.shape:
            labels = targets.argmax(dim=1)
        elif targets.dim() == 1 and targets.shape[0] == logits.shape[0]:
            labels = targets.long()
        else:
            raise ValueError(
                f"{self.name} metric: targets must be [N] class indices or [N, K] probabilities "
                f"for logits {list(logits.shape)}, found {list(targets.shape)}"
            )
        device = logits.device
        if any(v.device != device for v in self._state.values()):
            self._state = {k: v.to(device) for k, v in self._state.items()}
        self._update(logits.detach(), labels.to(device))

    def _value(self, key: str) -> torch.Tensor:
        return self._state[key].detach().cpu()
