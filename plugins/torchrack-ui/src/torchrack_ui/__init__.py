"""torchrack-ui: ``torchrack ui``, a local, read-only web dashboard over the torchrack run store.

Pages: ``/`` (runs, filtered and sorted), ``/runs/<id>`` (config, components and their verdicts,
environment, live curves, checkpoints), ``/compare?runs=<id>,<id>``, ``/sweeps/<id>`` and
``/plugins`` (the catalogue, read without importing any plugin), with the JSON behind them under
``/api/``. The standard library serves them (:mod:`http.server`); the charts are this package's
own small JavaScript, shipped inside it: nothing is fetched from the network.

>>> server = make_server(".torchrack/runs.sqlite", port=0)    # doctest: +SKIP
>>> server.serve_forever()                                      # doctest: +SKIP

From Python, :class:`Dashboard` answers a request target without any socket. Every error is a
:class:`torchrack.TorchrackError`.
"""

from __future__ import annotations

from torchrack_ui._app import Dashboard, HTTPError, Response
from torchrack_ui._server import DashboardServer, PortInUseError, RemoteHostError, is_loopback, make_server

__version__ = "0.1.0"

__all__ = [
    "Dashboard",
    "DashboardServer",
    "HTTPError",
    "PortInUseError",
    "RemoteHostError",
    "Response",
    "__version__",
    "is_loopback",
    "make_server",
]
