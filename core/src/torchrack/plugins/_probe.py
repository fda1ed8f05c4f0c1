"""Import probe: imports plugin entry points in child processes, so the parent stays clean.

``torchrack check`` and ``torchrack info`` must not import torch or any plugin module themselves,
yet must report a plugin whose module raises on import. Each plugin distribution is imported in
a child of its own (``python -m torchrack.plugins._probe``), several at a time, so that one
plugin that hangs, exits, crashes or segfaults is reported broken alone and never takes the others
with it. Each child has ``timeout`` seconds (the ``probe_timeout`` setting, default
:data:`DEFAULT_TIMEOUT`).

The answer cannot be forged by printing: the child reads its request (targets, ``sys.path``, a
random nonce, the packages trust denies) from stdin, and writes its one answer, tagged with the
nonce, to a private pipe whose descriptor it learns from the request; stdout and stderr are only
kept for messages. The serializer and the write are bound before any plugin code runs, so a plugin
that patches ``json.dumps`` changes nothing. A child that ends without an answer is reported by
how it ended (exit code or signal).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

#: Seconds one plugin's imports may take in the probe before it is reported broken.
DEFAULT_TIMEOUT = 10.0

#: The most bytes of answer read from one child.
_MAX_ANSWER = 4 * 1024 * 1024


def _failure(message: str, detail: str = "") -> dict[str, Any]:
    return {"error": message, "chain": [message] + ([detail] if detail else []), "traceback": detail}


def _how_it_ended(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _probe_one(targets: Sequence[tuple[str, str]], denied: Sequence[str], timeout: float) -> dict[str, Any]:
    nonce = secrets.token_hex(16)
    read_fd, write_fd = os.pipe()
    request = json.dumps({"sys_path": sys.path, "targets": list(targets), "nonce": nonce,
                          "fd": write_fd, "denied": list(denied)})
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "torchrack.plugins._probe"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            pass_fds=(write_fd,), start_new_session=True,
        )
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        msg = _failure(f"the import probe could not start: {exc}")
        return {key: msg for key, _ in targets}
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        assert proc.stdin is not None
        try:
            proc.stdin.write(request.encode())
            proc.stdin.close()
        except OSError:
            pass  # the child already died; its exit status says how
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(read_fd, selectors.EVENT_READ)
            size = 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired(proc.args, timeout)
                if not sel.select(left):
                    continue
                data = os.read(read_fd, 65536)
                if not data:
                    break
                size += len(data)
                if size > _MAX_ANSWER:
                    break
                chunks.append(data)
        proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill(proc)
        msg = _failure(f"importing took longer than {timeout:g} s (the probe timeout; "
                       "TORCHRACK_PROBE_TIMEOUT or probe_timeout in torchrack.toml)")
        return {key: msg for key, _ in targets}
    finally:
        os.close(read_fd)
        stderr = b""
        if proc.stderr is not None:
            if proc.poll() is not None:
                stderr = proc.stderr.read(20000)
            proc.stderr.close()
    return _answer(b"".join(chunks), nonce, targets, proc.returncode, stderr.decode("utf-8", "replace"))


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - an unkillable child
        pass


def _answer(raw: bytes, nonce: str, targets: Sequence[tuple[str, str]], code: int | None,
            stderr: str) -> dict[str, Any]:
    keys = [key for key, _ in targets]
    try:
        answer = json.loads(raw.decode("utf-8"))
        ok = (isinstance(answer, dict) and answer.get("nonce") == nonce
              and isinstance(answer.get("results"), dict) and set(answer["results"]) == set(keys))
    except (ValueError, UnicodeDecodeError):
        ok = False
    if not ok or code != 0:
        how = _how_it_ended(code if code is not None else -9)
        detail = stderr.strip()[-2000:]
        if code == 0 and raw:
            msg = _failure("the import probe's answer was not valid (a plugin wrote to the probe's "
                           "channel or changed it)", detail)
        else:
            msg = _failure(f"the import probe {how} before answering (a plugin ended the process "
                           "while being imported)", detail)
        return {key: msg for key in keys}
    results: dict[str, Any] = {}
    for key in keys:
        value = answer["results"][key]
        if value is not None and not (isinstance(value, dict) and isinstance(value.get("error"), str)):
            value = _failure("the import probe's answer was not valid")
        results[key] = value
    return results


def probe_imports(
    targets: Sequence[tuple[str, str]] | Mapping[str, Sequence[tuple[str, str]]],
    timeout: float | None = None,
    *,
    denied: Sequence[str] = (),
    jobs: int | None = None,
) -> dict[str, Any]:
    """Import each ``(key, "module:attr")`` in a fresh interpreter; return errors by key
    (None for an import that worked). ``targets`` grouped in a mapping (e.g. by distribution)
    get one child per group, run ``jobs`` at a time (default: the CPU count); a plain sequence
    is one group. ``denied``: top-level packages no import may load (trust settings)."""
    groups = dict(targets) if isinstance(targets, Mapping) else {"": list(targets)}
    groups = {k: list(v) for k, v in groups.items() if v}
    if not groups:
        return {}
    limit = float(DEFAULT_TIMEOUT if timeout is None else timeout)
    workers = max(1, min(len(groups), jobs or os.cpu_count() or 2))
    out: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(lambda g: _probe_one(g, denied, limit), groups.values()):
            out.update(result)
    return out


def _main() -> int:
    # Bound before any plugin code runs: a plugin that patches these changes nothing here.
    dumps, write, close = json.dumps, os.write, os.close
    global _EXIT
    _EXIT = os._exit
    request = json.loads(sys.stdin.read())
    nonce, fd = str(request["nonce"]), int(request["fd"])
    sys.stdin.close()
    sys.path[:] = request["sys_path"]
    from torchrack.plugins._loader import EntryPointImportError, guard_imports, load_entry_point

    guard_imports(request.get("denied", []))
    results: dict[str, Any] = {}
    for key, value in request["targets"]:
        try:
            load_entry_point(value, who=str(key))
            results[key] = None
        except EntryPointImportError as exc:
            results[key] = exc.description
    data = dumps({"nonce": nonce, "results": results}).encode()
    while data:
        data = data[write(fd, data):]
    close(fd)
    return 0


_EXIT = os._exit

if __name__ == "__main__":
    _code = _main()
    # Straight out: threads a plugin started must not keep the child (and `check`) waiting.
    sys.stdout.flush()
    sys.stderr.flush()
    _EXIT(_code)
