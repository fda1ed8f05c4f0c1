"""Import probe: imports plugin entry points in a child process, so the parent stays clean.

``torchrack check`` and ``torchrack info`` must not import torch or any plugin module themselves,
yet must report a plugin whose module raises on import. They run this module in a subprocess
(``python -m torchrack._probe``) with a JSON request on stdin::

    {"sys_path": [...], "targets": [["dist:name", "module:attr"], ...]}

and read back ``{"dist:name": null | {"error", "chain", "traceback"}}``. One failing import never
stops the others.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from typing import Any


def probe_imports(targets: list[tuple[str, str]], timeout: float = 300.0) -> dict[str, Any]:
    """Import each ``(key, "module:attr")`` in a fresh interpreter; return errors by key."""
    if not targets:
        return {}
    request = json.dumps({"sys_path": sys.path, "targets": targets})
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "torchrack._probe"],
            input=request,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        msg = {"error": f"importing took longer than {timeout:.0f} s", "chain": [], "traceback": ""}
        return {key: msg for key, _ in targets}
    try:
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        msg = {
            "error": f"the import probe crashed (exit {proc.returncode})",
            "chain": [proc.stderr.strip()[-2000:]],
            "traceback": proc.stderr,
        }
        return {key: msg for key, _ in targets}
    return result


def _main() -> int:
    from torchrack._registry import describe_exception

    request = json.load(sys.stdin)
    sys.path[:] = request["sys_path"]
    results: dict[str, Any] = {}
    for key, value in request["targets"]:
        module, _, attr = value.partition(":")
        try:
            obj: Any = importlib.import_module(module.strip())
            for part in attr.strip().split(".") if attr.strip() else []:
                obj = getattr(obj, part)
            results[key] = None
        except BaseException as exc:  # noqa: BLE001 - report anything a plugin raises
            results[key] = describe_exception(exc)
    sys.stdout.write("\n" + json.dumps(results) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
