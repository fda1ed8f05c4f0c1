"""``cpu``: one process on the CPU, with an optional thread count."""

from __future__ import annotations

from torchrack.accelerator import CPUAccelerator as _CoreCPU

from torchrack_accelerators._base import check_int


class CPUAccelerator(_CoreCPU):
    """The core's built-in CPU accelerator, with its ``threads`` param checked.

    ``threads`` sets ``torch.set_num_threads`` at setup (None: torch's default, one per core, or
    ``OMP_NUM_THREADS``); teardown restores the previous count.
    """

    def __init__(self, *, threads: int | None = None) -> None:
        super().__init__(threads=check_int("cpu accelerator", "threads", threads, 1, optional=True))
