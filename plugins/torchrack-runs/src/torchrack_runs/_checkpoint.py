"""Checkpoints: written atomically (temporary file, fsync, rename), read back weights-only.

A checkpoint is a plain dict: ``format``, ``epoch`` (0-based), ``config_sha256``, the redacted
``config``, the ``model``, ``optimizer`` and ``scheduler`` state dicts and, when ``[train]`` uses
them, ``strategies`` (EMA weights, early-stopping and best-k state). A run folder holds
``checkpoint.pt`` (the latest epoch's) and, with ``[train.checkpoints]``, ``epoch-E.pt`` for each
kept epoch E (1-based), listed in the record's ``checkpoints``.
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


def restore(resume: dict[str, Any], pipe: Pipeline, optimizer: Any, scheduler: Any,
            strategies: dict[str, Any] | None = None) -> int:
    """Load the model, optimizer, scheduler and strategy states (EMA, early stopping, best-k
    checkpoints) of the checkpoint of ``resume``; return the epoch (0-based) to continue at."""
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
        saved = ckpt.get("strategies") or {}
        for name, obj in (strategies or {}).items():
            if name in saved:
                obj.load_state_dict(saved[name])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise TorchrackError(
            f"checkpoint {path} does not fit this config's model and optimizer "
            f"({type(exc).__name__}: {str(exc)[:300]})"
        ) from None
    return int(ckpt["epoch"]) + 1


def checkpoint_for(record: dict[str, Any], which: str = "last") -> tuple[str, int]:
    """The checkpoint file of a recorded run and its 1-based epoch: ``last`` (the latest epoch's),
    ``best`` (the best kept by ``[train.checkpoints]``) or an epoch number ``E`` (a kept one, or
    the latest when it is E). Raises :class:`TorchrackError` saying what the run has."""
    rid = record.get("run_id")
    kept = [c for c in record.get("checkpoints") or [] if isinstance(c, dict)]
    last_path, last_epoch = record.get("checkpoint"), record.get("checkpoint_epoch")
    have = sorted({int(c["epoch"]) for c in kept} | ({int(last_epoch)} if last_epoch else set()))
    listing = (f"it has {', '.join(map(str, have))} (and best/last)" if have else
               "it recorded no checkpoint")
    text = str(which).strip().lower()
    if text == "last":
        if not last_path:
            raise TorchrackError(f"run {rid} has no checkpoint: it recorded no complete epoch")
        return str(last_path), int(last_epoch or 0)
    if text == "best":
        best = [c for c in kept if c.get("best")]
        if not best:
            raise TorchrackError(
                f"run {rid} kept no best checkpoint: its config has no [train.checkpoints] "
                "(monitor = ...); use --checkpoint last or an epoch number")
        return str(best[0]["path"]), int(best[0]["epoch"])
    if not text.isdigit() or not text.isascii():
        raise TorchrackError(f"--checkpoint {which!r}: expected best, last or an epoch number "
                             f"(1..N); run {rid}: {listing}")
    epoch = int(text)
    for c in kept:
        if int(c["epoch"]) == epoch:
            return str(c["path"]), epoch
    if last_path and last_epoch == epoch:
        return str(last_path), epoch
    raise TorchrackError(f"run {rid} has no checkpoint of epoch {epoch}: {listing}")
