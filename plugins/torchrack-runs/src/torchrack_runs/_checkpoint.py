"""Checkpoints: written atomically (temporary file, fsync, rename), read back weights-only.

A checkpoint is a plain dict: ``format``, ``epoch`` (0-based), ``config_sha256``, the redacted
``config``, and the ``model``, ``optimizer`` and ``scheduler`` state dicts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchrack import TorchrackError

if TYPE_CHECKING:
    from torchrack_runs._build import Pipeline


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path``."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _suppress():
            os.unlink(tmp)
        raise
    with _suppress():  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint written by :func:`atomic_save` (weights only: no code runs on load).

    A missing, truncated or foreign file raises a :class:`TorchrackError` that names it.
    """
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TorchrackError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - torch reports a bad file in many ways
        raise TorchrackError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: {str(exc)[:300]}); it is "
            "truncated or not a torchrack checkpoint: start a new run, or resume from a copy "
            "that is whole"
        ) from None
    if not isinstance(ckpt, dict) or not {"epoch", "model"} <= set(ckpt) or not isinstance(ckpt["epoch"], int):
        raise TorchrackError(f"checkpoint {path} is not a torchrack checkpoint (no epoch and model)")
    return ckpt


def restore(resume: dict[str, Any], pipe: Pipeline, optimizer: Any, scheduler: Any) -> int:
    path = resume.get("checkpoint")
    if not path or not Path(path).is_file():
        raise TorchrackError(
            f"run {resume['run_id']} has no checkpoint to resume from (expected at {path}); "
            "start a new run instead"
        )
    ckpt = load_checkpoint(path)
    try:
        pipe.model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None and ckpt.get("scheduler") is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise TorchrackError(
            f"checkpoint {path} does not fit this config's model and optimizer "
            f"({type(exc).__name__}: {str(exc)[:300]})"
        ) from None
    return int(ckpt["epoch"]) + 1
