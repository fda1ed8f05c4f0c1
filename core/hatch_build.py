"""Build hook: put the JSON Schemas into the wheel as ``torchrack/contracts/json/``.

They live in the repository's top-level ``contracts/`` folder (the single source of truth); an
sdist carries them as ``contracts/`` beside this file. Either way the wheel gets the same files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ContractsHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return  # an editable install reads ../contracts from the checkout itself
        here = Path(self.root)
        for candidate in (here.parent / "contracts", here / "contracts"):
            if candidate.is_dir() and any(candidate.glob("*.schema.json")):
                build_data["force_include"][str(candidate)] = "torchrack/contracts/json"
                return
        raise FileNotFoundError(f"no contracts/ folder with *.schema.json beside or above {here}")
