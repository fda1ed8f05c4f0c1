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
    "optimizer": "torchrack.optimizers",
    "scheduler": "torchrack.schedulers",
    "calibrator": "torchrack.calibrators",
    "adapter": "torchrack.adapters",
}

#: Group for pluggy hook-implementation modules (trackers, strategies, alerts).
HOOKS_GROUP = "torchrack.hooks"

#: Group for CLI subcommands: name = command, value = ``module`` or ``module:attr`` (an object with
#: ``add_arguments(parser)`` and ``run(args) -> int``), vetted like every plugin before import.
COMMANDS_GROUP = "torchrack.commands"

KINDS: tuple[str, ...] = tuple(GROUPS)

#: entry-point group -> kind (``torchrack.hooks`` maps to ``"hooks"``).
KIND_OF_GROUP: dict[str, str] = {group: kind for kind, group in GROUPS.items()}
KIND_OF_GROUP[HOOKS_GROUP] = "hooks"
KIND_OF_GROUP[COMMANDS_GROUP] = "commands"

#: Entry-point kinds that are not components (no manifest ``components`` entry, no registry slot).
NON_COMPONENT_KINDS = ("hooks", "commands")

_ALIASES: dict[str, str] = {}
for _kind, _group in GROUPS.items():
    _ALIASES[_kind] = _kind
    _ALIASES[_group] = _kind
    _ALIASES[_group.split(".", 1)[1]] = _kind  # plural: "losses"
_ALIASES["augment"] = "augmentation"


def normalize_kind(text: str) -> str | None:
    """Return the canonical kind for ``text`` (singular, plural or group name), or None."""
    return _ALIASES.get(text.strip().lower())


def unknown_kind(text: str) -> str:
    """The message for a kind :func:`normalize_kind` does not know: a did-you-mean, the kinds."""
    import difflib

    close = difflib.get_close_matches(str(text), list(KINDS), n=1)
    mean = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown kind {text!r}{mean}; expected one of: {', '.join(KINDS)}"
