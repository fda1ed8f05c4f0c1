"""Component kinds and their entry-point groups: the published names plugins register under."""

from __future__ import annotations

#: kind -> entry-point group. The groups are public interface; never rename them.
GROUPS: dict[str, str] = {
    "dataset": "torchrack.datasets",
    "augmentation": "torchrack.augmentations",
    "backbone": "torchrack.backbones",
    "head": "torchrack.heads",
    "loss": "torchrack.losses",
    "metric": "torchrack.metrics",
    "accelerator": "torchrack.accelerators",
}

#: Group for pluggy hook-implementation modules.
HOOKS_GROUP = "torchrack.hooks"

KINDS: tuple[str, ...] = tuple(GROUPS)

#: entry-point group -> kind (``torchrack.hooks`` maps to ``"hooks"``).
KIND_OF_GROUP: dict[str, str] = {group: kind for kind, group in GROUPS.items()}
KIND_OF_GROUP[HOOKS_GROUP] = "hooks"

_ALIASES: dict[str, str] = {}
for _kind, _group in GROUPS.items():
    _ALIASES[_kind] = _kind
    _ALIASES[_group] = _kind
    _ALIASES[_group.split(".", 1)[1]] = _kind  # plural: "losses"
_ALIASES["augment"] = "augmentation"


def normalize_kind(text: str) -> str | None:
    """Return the canonical kind for ``text`` (singular, plural or group name), or None."""
    return _ALIASES.get(text.strip().lower())
