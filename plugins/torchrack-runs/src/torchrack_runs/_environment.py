"""The environment of a run, for its record: python, torch, CUDA, platform, git commit."""

from __future__ import annotations

import platform
import subprocess
import sys
from typing import Any

from torchrack import __version__


def git_commit(cwd: str | None = None) -> str | None:
    """HEAD of the git repository at ``cwd``, or None outside a repository (or without git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment(world_size: int = 1) -> dict[str, Any]:
    """Describe this process's environment (imports torch)."""
    import torch

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchrack": __version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "world_size": world_size,
    }
