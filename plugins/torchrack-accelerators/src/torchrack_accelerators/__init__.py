"""torchrack-accelerators: where and how a torchrack pipeline runs.

- ``cpu``: one process on the CPU, with a thread count;
- ``cuda``: one GPU, with fp32, bf16 or fp16 (gradient scaler) precision, channels_last,
  ``torch.compile`` (``compile_mode`` "reduce-overhead" gives CUDA graphs), non-blocking transfers
  and the training split kept on the GPU;
- ``ddp``: ``torch.nn.parallel.DistributedDataParallel`` over the processes that ``torchrun`` (or
  ``torchrack run --nproc N``) starts: gloo on CPU, nccl on CUDA.

Components are imported by torchrack only when a run uses them, so this module imports nothing heavy.
"""

from __future__ import annotations

__all__: list[str] = []
