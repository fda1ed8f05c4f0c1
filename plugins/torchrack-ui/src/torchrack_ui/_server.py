"""Serving the dashboard over HTTP: the standard library's ThreadingHTTPServer, loopback only.

:func:`make_server` binds the address and refuses, with a message saying how to proceed, a host
that is not a loopback address unless ``allow_remote`` (the dashboard has no login: anyone who
can reach the port reads every run), and a port that is taken. Requests other than GET and HEAD
are refused (405: the dashboard never writes). Unless remote access was allowed, a request whose
``Host`` header is not a loopback name is refused too (403), so that a web page elsewhere cannot
read the dashboard through DNS rebinding. Every answer carries a Content-Security-Policy that
allows only the dashboard's own script and style, no inline script and no other origin.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from torchrack import TorchrackError

from torchrack_ui._app import Dashboard, Response

__all__ = ["DashboardServer", "PortInUseError", "RemoteHostError", "is_loopback", "make_server"]

#: The headers every answer carries.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class RemoteHostError(TorchrackError):
    """``--host`` is not a loopback address and remote access was not allowed."""


class PortInUseError(TorchrackError):
    """Another process listens on the port already."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) means this machine only: 127.0.0.0/8, ::1, or a
    name that resolves to loopback addresses only."""
    text = host.strip().strip("[]")
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        pass
    if text.lower() in LOOPBACK_NAMES:
        return True
    try:
        infos = socket.getaddrinfo(text, None)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(str(a).split("%")[0]).is_loopback
                                   for a in addresses)


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    server_version = "torchrack-ui"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def _send(self, response: Response, *, body: bool = True) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        headers = {"Cache-Control": "no-store", **SECURITY_HEADERS, **response.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(response.body)

    def _host_allowed(self) -> bool:
        if self.server.allow_remote:
            return True
        host = (self.headers.get("Host") or "").strip()
        if host.startswith("["):
            name = host[1:].partition("]")[0]
        else:
            name = host.rpartition(":")[0] if host.count(":") == 1 else host
        name = name.lower()
        if name in LOOPBACK_NAMES or name == self.server.host.lower():
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def _answer(self, *, body: bool) -> None:
        if not self._host_allowed():
            from torchrack_ui._app import JSON, dumps

            self._send(Response(403, JSON, dumps({"error": {
                "status": 403, "title": "Host not allowed",
                "message": f"the Host header {self.headers.get('Host')!r} is not a loopback name; "
                           "this dashboard answers requests for localhost only (start it with "
                           "--allow-remote to serve other names)"}})), body=body)
            return
        self._send(self.server.dashboard.handle(self.path), body=body)

    def do_GET(self) -> None:
        """Answer a GET."""
        self._answer(body=True)

    def do_HEAD(self) -> None:
        """Answer a HEAD: the GET's headers, no body."""
        self._answer(body=False)

    def _refuse(self) -> None:
        from torchrack_ui._app import JSON, dumps

        self._send(Response(405, JSON, dumps({"error": {
            "status": 405, "title": "Method not allowed",
            "message": f"{self.command} is not allowed: the dashboard is read-only (GET and HEAD only)"}}),
            {"Allow": "GET, HEAD"}))

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Log nothing per request (a live page polls every few seconds); errors still are."""

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        """Write protocol errors (a malformed request) to stderr."""
        sys.stderr.write(f"torchrack ui: {self.address_string()}: {format % args}\n")


class DashboardServer(ThreadingHTTPServer):
    """A threading HTTP server answering with a :class:`Dashboard`; ``url`` is where it listens."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], dashboard: Dashboard, *, allow_remote: bool) -> None:
        self.dashboard = dashboard
        self.allow_remote = allow_remote
        self.host = address[0]
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        """The port it listens on (the one chosen, with port 0)."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that went away mid-answer (a closed tab, a reload) is not an error worth a
        traceback; anything else is written to stderr as usual."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def server_close(self) -> None:
        """Stop listening and close the store."""
        super().server_close()
        self.dashboard.close()


def make_server(store: str | Path, *, host: str = "127.0.0.1", port: int = 8765,
                allow_remote: bool = False, refresh_seconds: float = 2.0) -> DashboardServer:
    """A server for the store at ``store``, bound to ``host:port`` (port 0: any free port) and
    not yet serving (call ``serve_forever()``).

    Raises :class:`RemoteHostError` for a non-loopback ``host`` without ``allow_remote``,
    :class:`PortInUseError` when the port is taken, and the store's errors
    (:class:`torchrack_runs.StoreNotFoundError`, ...) when it cannot be opened.
    """
    if not allow_remote and not is_loopback(host):
        raise RemoteHostError(
            f"--host {host} is not a loopback address: the dashboard has no login, so anyone who can "
            f"reach {host} would read every run in the store; serve on 127.0.0.1 (the default) and "
            "reach it through an SSH tunnel, or pass --allow-remote to serve on it anyway"
        )
    dashboard = Dashboard(store, refresh_seconds=refresh_seconds)
    try:
        return DashboardServer((host, port), dashboard, allow_remote=allow_remote)
    except OSError as exc:
        dashboard.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"port {port} on {host} is already in use (another `torchrack ui`, or another "
                "server); choose another with --port N, or --port 0 for any free port"
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise PortInUseError(
                f"not allowed to listen on port {port} of {host} (ports below 1024 need privileges); "
                "choose another with --port N"
            ) from None
        raise TorchrackError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; check --host "
                             "and --port") from None
