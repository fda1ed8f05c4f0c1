"""`torchrack ui` as a user starts it: a subprocess through the real CLI.

It prints where it serves, answers, and stops with exit 0 on Ctrl-C (SIGINT) or SIGTERM; a
non-loopback host, a taken port, a missing store and a bad flag each end it with one clear line
(exit 1, or 2 for a bad flag) and no traceback; it never writes the store.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from torchrack_runs import RunStore

from ._ui_helpers import UIProcess, fetch, fetch_json, record, ui_env, write_run


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "store" / "runs.sqlite"
    with RunStore(path) as s:
        write_run(s, record("cli-run"), [0.5, 0.75])
    return path


def _ui(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "torchrack", "ui", *args], cwd=tmp_path,
                          env=ui_env(tmp_path), capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ui_serves_the_store_and_stops_with_exit_0(tmp_path: Path, store: Path, sig: int) -> None:
    before = store.read_bytes()
    ui = UIProcess(["--store", str(store), "--port", "0"], cwd=tmp_path, env=ui_env(tmp_path))
    url = ui.start()
    assert url.startswith("http://127.0.0.1:")
    status, data = fetch_json(url + "api/runs")
    assert status == 200 and data["runs"][0]["name"] == "cli-run"
    status, _, body = fetch(url)
    assert status == 200 and b"cli-run" in body
    out, err = ui.stop(sig)
    assert ui.proc.returncode == 0, (out, err)
    assert "(read-only)" in out and "stopped" in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert store.read_bytes() == before  # read-only: not a byte changed


def test_ui_finds_the_store_from_the_environment(tmp_path: Path, store: Path) -> None:
    env = {**ui_env(tmp_path), "TORCHRACK_STORE": str(store)}
    ui = UIProcess(["--port", "0"], cwd=tmp_path, env=env)
    url = ui.start()
    try:
        assert fetch_json(url + "api/")[1]["store"] == str(store)
    finally:
        ui.stop()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
def test_a_host_that_is_not_loopback_is_refused_unless_allowed(tmp_path: Path, store: Path,
                                                               host: str) -> None:
    proc = _ui(tmp_path, "--store", str(store), "--host", host, "--port", "0")
    assert proc.returncode == 1
    assert f"--host {host} is not a loopback address" in proc.stderr
    assert "--allow-remote" in proc.stderr and "Traceback" not in proc.stderr


def test_allow_remote_serves_on_every_interface_with_a_warning(tmp_path: Path, store: Path) -> None:
    ui = UIProcess(["--store", str(store), "--host", "0.0.0.0", "--port", "0", "--allow-remote"],
                   cwd=tmp_path, env=ui_env(tmp_path))
    url = ui.start()
    port = url.rstrip("/").rsplit(":", 1)[1]
    try:
        status, _ = fetch_json(f"http://127.0.0.1:{port}/api/runs", headers={"Host": "example.org"})
        assert status == 200  # other host names are served once remote access is allowed
    finally:
        out, err = ui.stop()
    assert "anyone who reaches this address can read every run" in err


def test_localhost_by_name_is_loopback(tmp_path: Path, store: Path) -> None:
    ui = UIProcess(["--store", str(store), "--host", "localhost", "--port", "0"], cwd=tmp_path,
                   env=ui_env(tmp_path))
    url = ui.start()
    try:
        assert fetch(url)[0] == 200
    finally:
        ui.stop()


def test_a_port_in_use_is_a_clear_error(tmp_path: Path, store: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _ui(tmp_path, "--store", str(store), "--port", str(port))
    assert proc.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr
    assert "--port 0" in proc.stderr and "Traceback" not in proc.stderr


def test_a_missing_store_is_a_clear_error_and_nothing_is_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "runs.sqlite"
    proc = _ui(tmp_path, "--store", str(missing), "--port", "0")
    assert proc.returncode == 1
    assert f"no run store at {missing}" in proc.stderr and "Traceback" not in proc.stderr
    assert not missing.parent.exists()


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello")
    proc = _ui(tmp_path, "--store", str(bogus), "--port", "0")
    assert proc.returncode == 1 and "is not a run store" in proc.stderr
    assert bogus.read_text() == "hello"


@pytest.mark.parametrize(("args", "fragment"), [
    (["--port", "70000"], "port number from 0 to 65535"),
    (["--port", "http"], "expected a port number"),
    (["--refresh", "0"], "0.1 to 3600 seconds"),
])
def test_bad_flags_are_usage_errors(tmp_path: Path, store: Path, args: list[str], fragment: str) -> None:
    proc = _ui(tmp_path, "--store", str(store), *args)
    assert proc.returncode == 2 and fragment in proc.stderr


def test_serving_imports_neither_torch_nor_any_plugin(tmp_path: Path, store: Path) -> None:
    """The catalogue and the run pages read metadata and the store only."""
    code = (
        "import sys\n"
        "from torchrack_ui import Dashboard\n"
        f"d = Dashboard({str(store)!r})\n"
        "for target in ('/', '/runs/1', '/plugins', '/api/plugins', '/compare?runs=1,1', '/api/runs/1/curves'):\n"
        "    d.handle(target)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or\n"
        "             (m.startswith('torchrack_') and m.split('.')[0] not in ('torchrack_runs', 'torchrack_ui')))\n"
        "print('imported:', bad)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=ui_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "imported: []" in proc.stdout, proc.stdout
