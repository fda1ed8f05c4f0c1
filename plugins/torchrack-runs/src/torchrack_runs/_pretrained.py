"""Pre-trained from a recorded run: ``backbone = { name = "checkpoint", params = { run = "3" } }``.

A backbone whose params schema has a ``run`` property marked ``"x-torchrack": "run-checkpoint"``
(the first-party ``checkpoint`` backbone) may name a run of the store instead of a weights
file. Before anything is built, :func:`resolve_pretrained` looks the run up and fills the params
the component needs from the record, unless the config gives them:

- ``path``: the run's checkpoint (``run_checkpoint``: ``last``, the default, ``best`` or an epoch
  number, as ``torchrack eval --checkpoint``);
- ``prefix``: ``"backbone."`` (the backbone's keys in a trainer checkpoint), or
  ``"backbone.inner."`` when the recorded run's backbone was itself a checkpoint backbone;
- ``backbone`` and ``backbone_params``: the recorded run's backbone and its resolved params.

The link goes into the new run's record as ``pretrained_from``: the role, the run id, the
checkpoint file and its epoch. A reproduced config (``runs show --config``) has both ``run`` and
the filled ``path``: that is accepted while they agree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torchrack import TorchrackError

from torchrack_runs._config import ResolvedConfig, Slot

MARK = "run-checkpoint"


def _takes_run(slot: Slot) -> bool:
    if slot.kind != "backbone" or slot.info is None:
        return False
    prop = (slot.info.params_schema or {}).get("properties", {}).get("run")
    return isinstance(prop, dict) and prop.get("x-torchrack") == MARK


def _recorded_backbone(record: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    """``(name, params, prefix)`` of the backbone a recorded run trained."""
    config = record.get("resolved_config") or record.get("config") or {}
    ref = (config.get("model") or {}).get("backbone") or {}
    name, params = str(ref.get("name", "")), dict(ref.get("params") or {})
    if name.split(":")[-1] == "checkpoint" and params.get("backbone"):
        return str(params["backbone"]), dict(params.get("backbone_params") or {}), "backbone.inner."
    return name, params, "backbone."


def resolve_pretrained(resolved: ResolvedConfig, store_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Fill the params of every backbone that names a recorded ``run``; return the links.
    Raises :class:`TorchrackError` naming the config key, the run and the fix."""
    links: list[dict[str, Any]] = []
    for slot in resolved.slots:
        if not _takes_run(slot) or slot.params.get("run") in (None, ""):
            continue
        from torchrack_runs._checkpoint import checkpoint_for
        from torchrack_runs._store import RunStore

        ref = str(slot.params["run"])
        given = slot.ref.get("params") or {}
        where = f"{slot.key}.params.run = {ref!r}"
        try:
            with RunStore(store_path, create=False, read_only=True) as store:
                record = store.get(ref)
        except (TorchrackError, LookupError) as exc:
            raise TorchrackError(f"{where}: {exc}") from None
        if record.get("status") != "completed":
            raise TorchrackError(
                f"{where}: run {record['run_id']} is {record.get('status')}, not completed; "
                "pre-train from a completed run (or resume this one first)")
        try:
            path, epoch = checkpoint_for(record, str(slot.params.get("run_checkpoint") or "last"))
        except TorchrackError as exc:
            raise TorchrackError(f"{where}: {exc}") from None
        if not Path(path).is_file():
            raise TorchrackError(f"{where}: the run's checkpoint {path} is missing; it was moved or "
                                 "deleted (give its file as path instead)")
        if "path" in given and os.path.abspath(str(given["path"])) != os.path.abspath(path):
            raise TorchrackError(
                f"{slot.key}.params: give run or path, not both: run {record['run_id']} resolves "
                f"to {path}, path says {given['path']}")
        name, params, prefix = _recorded_backbone(record)
        path = os.path.abspath(path)
        slot.params["path"] = path
        if "prefix" not in given:
            slot.params["prefix"] = prefix
        if "backbone" not in given:
            if not name:
                raise TorchrackError(f"{where}: the run's record names no backbone; give backbone "
                                     "(and backbone_params) in the params")
            slot.params["backbone"] = name
            if "backbone_params" not in given:
                slot.params["backbone_params"] = params
        links.append({"role": slot.role, "run_id": str(record["run_id"]), "checkpoint": path,
                      "epoch": int(epoch)})
    resolved.pretrained_from = links
    return links
