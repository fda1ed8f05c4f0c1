"""``torchrack ui [--store PATH] [--host 127.0.0.1] [--port 8765]``: serve the dashboard.

A ``torchrack.commands`` entry point of torchrack-ui. It opens the store read-only, binds the
address (loopback unless ``--allow-remote``), prints the address, and serves until Ctrl-C (or
SIGTERM), which stops it with exit status 0. A store that does not exist, a host that is not a
loopback address, a port that is taken: each is one line saying what to do, exit 1 (2 for a bad
flag value).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from torchrack.cli.output import nonempty
from torchrack_runs import RunStore

__all__ = ["add_arguments", "run"]


def _port(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number (0 to 65535), not {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"expected 0.1 to 3600 seconds, not {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``torchrack ui``."""
    parser.add_argument("--store", metavar="PATH", type=nonempty("a path"),
                        help="run store to show (default: $TORCHRACK_STORE or ./.torchrack/runs.sqlite)")
    parser.add_argument("--host", default="127.0.0.1", type=nonempty("an address (127.0.0.1, ::1, localhost)"),
                        help="address to listen on (default 127.0.0.1; a non-loopback address "
                             "needs --allow-remote)")
    parser.add_argument("--port", type=_port, default=8765,
                        help="port to listen on (default 8765; 0: any free port)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a --host that other machines can reach (the dashboard has no "
                             "login: they can read every run)")
    parser.add_argument("--refresh", type=_seconds, default=2.0, metavar="SECONDS",
                        help="how often a page of a running run polls for new epochs (default 2)")


def _stop_on_sigterm() -> None:
    """Make SIGTERM stop the server as Ctrl-C does (a service manager, `kill PID`)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; return the exit status."""
    from torchrack_ui._server import make_server

    path = Path(args.store).expanduser() if args.store else RunStore.default_path()
    server = make_server(path, host=args.host, port=args.port, allow_remote=args.allow_remote,
                         refresh_seconds=args.refresh)
    print(f"torchrack ui: serving the run store {server.dashboard.ctx.store} (read-only) at "
          f"{server.url}", flush=True)
    if args.allow_remote:
        print("torchrack ui: warning: --allow-remote: anyone who reaches this address can read "
              "every run", file=sys.stderr, flush=True)
    print("torchrack ui: press Ctrl-C to stop", flush=True)
    _stop_on_sigterm()
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("torchrack ui: stopped", flush=True)
    return 0
