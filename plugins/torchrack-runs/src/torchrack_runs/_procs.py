"""Whether the process that writes a run still lives: pid, process start time and host.

Each run in the store keeps the pid, start time and host of its writer; a run left "running" by a
process that is gone (or whose pid now belongs to another process) was interrupted.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def hostname() -> str:
    """This host's name, as kept with each run."""
    return socket.gethostname()


def process_stat(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (state first), or None where there is no procfs entry."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return data[data.rindex(")") + 2 :].split() if ")" in data else None


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, Linux); None where unknown."""
    fields = process_stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def pid_alive(pid: int | None, start: str | None = None) -> bool:
    """Whether process ``pid`` on this host still runs (and is the one that started at ``start``).

    A zombie counts as gone, and so does a live process whose start time differs from ``start``:
    its pid was reused. Where liveness cannot be checked safely (Windows), the answer is True.
    A pid that no process can have (not an int, beyond the OS's range) counts as gone.
    """
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if os.name == "nt":  # pragma: no cover - os.kill(pid, 0) would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    except (OSError, OverflowError, ValueError):
        return False
    fields = process_stat(pid)
    if fields is not None:
        if fields[0] in ("Z", "X"):
            return False
        if start is not None and len(fields) > 19 and fields[19] != start:
            return False
    return True
