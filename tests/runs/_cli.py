"""Run the torchrack CLI in a subprocess, in a given working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIGITS = ROOT / "examples" / "digits.toml"


def torchrack(*args: str, cwd: Path, env: dict[str, str] | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "TORCHRACK_CACHE_DIR": str(cwd / ".cache"), **(env or {})}
    full_env.pop("TORCHRACK_STORE", None)
    return subprocess.run(
        [sys.executable, "-m", "torchrack", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )
