"""``cpu``: one process on the CPU, with an optional thread count."""

from __future__ import annotations

from typing import Any

from torchrack.accelerator import CPUAccelerator as _CoreCPU

from torchrack_accelerators._base import COMPILE_SCOPES, check_choice, check_int


class CPUAccelerator(_CoreCPU):
    """The core's built-in CPU accelerator, with its ``threads`` param checked.

    ``threads`` sets ``torch.set_num_threads`` at setup (None: torch's default, one per core, or
    ``OMP_NUM_THREADS``); teardown restores the previous count. ``compile_scope = "step"`` has
    the trainer compile the whole training step as one graph (``"model"``, the default: nothing
    is compiled on the CPU).
    """

    def __init__(self, *, threads: int | None = None, compile_scope: str = "model") -> None:
        super().__init__(threads=check_int("cpu accelerator", "threads", threads, 1, optional=True))
        self.compile_scope = check_choice("cpu accelerator", "compile_scope", compile_scope, COMPILE_SCOPES)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if self.compile_scope != "model":  # the record of a default run stays as it was
            out["compile_scope"] = self.compile_scope
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threads={self.threads!r}, compile_scope={self.compile_scope!r})"
