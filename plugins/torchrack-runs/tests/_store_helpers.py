"""Shared helpers of the run-store and `torchrack runs` tests."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from torchrack.contracts._schemas import validate

#: A secret that must never reach the store, the event log or `runs show` output.
SECRET = "tkn-9f8e7d6c5b4a-do-not-leak"


def make_record(name: str = "demo", *, lr: float = 0.01, seed: int = 0,
                secret: str | None = SECRET, backbone_version: str = "1.0.0") -> dict[str, Any]:
    """A run record as the trainer hands it to ``RunStore.create_run`` (no run_id)."""
    config: dict[str, Any] = {
        "schema_version": 1,
        "run": {"name": name, "seed": seed, "epochs": 3},
        "data": {"dataset": {"name": "digits", "params": {"token": secret} if secret else {}},
                 "batch_size": 64},
        "model": {"backbone": {"name": "small_cnn", "params": {"width": 16}},
                  "head": {"name": "linear", "params": {"in_features": 64}}},
        "optimizer": {"name": "sgd", "params": {"lr": lr}},
        "augment": [{"name": "flip", "params": {"p": 0.5}}],
    }
    sha = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    return {
        "name": name,
        "status": "running",
        "config": config,
        "config_sha256": sha,
        "components": [
            {"role": "model.backbone", "kind": "backbone", "name": "small_cnn",
             "version": backbone_version, "distribution": "torchrack-backbones",
             "distribution_version": "0.1.0", "entry_point": "torchrack_backbones.cnn:SmallCNN",
             "files_sha256": hashlib.sha256(backbone_version.encode()).hexdigest()},
        ],
        "environment": {"python": "3.11.7", "torch": "2.13.0", "torchrack": "0.1.0",
                        "platform": "Linux-x86_64", "cuda": None, "git_commit": None},
        "seed": seed,
        "final_metrics": {},
        "timings": {"started_at": 1000.0},
        "checkpoint": None,
    }


def assert_valid(name: str, instance: Any) -> None:
    """Fail with every schema problem of ``instance`` against the published schema ``name``."""
    problems = validate(name, instance)
    assert not problems, "\n".join(map(str, problems))
