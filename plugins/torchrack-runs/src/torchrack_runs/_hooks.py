"""Calling hooks (a failure names the plugin that raised), and what a distributed accelerator
knows about a failure."""

from __future__ import annotations

from typing import Any

from torchrack import TorchrackError


class HookError(TorchrackError):
    """A hook implementation raised; names the hook and the plugin that provides it."""


def call_hook(pm: Any, name: str, **kwargs: Any) -> Any:
    """Call hook ``name``; a failure is re-raised naming the implementation that raised it."""
    caller = getattr(pm.hook, name)
    try:
        return caller(**kwargs)
    except TorchrackError:
        raise
    except Exception as exc:  # noqa: BLE001 - a tracker plugin may raise anything
        codes = {impl.function.__code__: impl.plugin_name for impl in caller.get_hookimpls()}
        who = "a hook implementation"
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code in codes:
                who = f"plugin {codes[tb.tb_frame.f_code]!r}"
            tb = tb.tb_next
        raise HookError(f"{name} of {who} raised {type(exc).__name__}: {exc}") from exc


class DistributedError(TorchrackError):
    """A collective across processes failed (a rank died, hung or lost its connection)."""


def explain_failure(acc: Any, exc: BaseException) -> str | None:
    """What a distributed accelerator knows about a failure (e.g. which ranks stopped
    answering), or None. Accelerators may offer ``explain_failure(exc)``; it must not raise."""
    explain = getattr(acc, "explain_failure", None)
    if explain is None:
        return None
    try:
        why = explain(exc)
    except Exception:  # noqa: BLE001 - a diagnosis must never hide the failure itself
        return None
    return str(why) if why else None
