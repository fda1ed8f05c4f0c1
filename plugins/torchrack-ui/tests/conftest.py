"""Fixtures of the torchrack-ui tests: a run store with real runs, and the dashboard serving it.

The store is written through :class:`torchrack_runs.RunStore`'s own API (what the trainer
calls), so these tests need neither torch training nor any component plugin; the browser test
trains real runs instead (test_ui_browser.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from torchrack_runs import RunStore
from torchrack_ui import DashboardServer, make_server

from ._ui_helpers import HOSTILE, SECRET, damage, plugin_site, record, write_run, write_sweep


@dataclass
class UIStore:
    """The test store: its path, the plugin folder, and the id of each run by role."""

    path: Path
    site: Path
    ids: dict[str, str]
    sweep: str | None = None


@pytest.fixture(scope="module")
def ui_store(tmp_path_factory: pytest.TempPathFactory) -> UIStore:
    """Runs of every kind: two completed ones that differ (one with a hostile name), a damaged
    record, a running one, a failed one whose error is hostile, and one written by an old writer
    that numbered epochs from 0 and stored a secret in clear."""
    root = tmp_path_factory.mktemp("ui-store")
    site = plugin_site(root / "site")
    ckpts = root / "ckpts"
    ckpts.mkdir()
    path = root / "store" / "runs.sqlite"
    ids: dict[str, str] = {}
    with RunStore(path) as store:
        ids["baseline"] = write_run(store, record("baseline", lr=0.1), [0.5, 0.7, 0.9],
                                    checkpoint_dir=ckpts)
        ids["hostile"] = write_run(store, record(HOSTILE, lr=0.05, loss_version="0.9.0",
                                                 extra_config={"note": HOSTILE}),
                                   [0.4, 0.6, 0.95])
        ids["damaged"] = write_run(store, record("damaged"), [0.3])
        ids["running"] = write_run(store, record("still-running"), [0.2, 0.3], status=None)
        ids["failed"] = write_run(store, record("failed-run", secret=None), [0.1], status="failed",
                                  error=f"loss became NaN {HOSTILE}")
        ids["old"] = write_run(store, record("old-writer", secret=None), [0.6, 0.8], first=0,
                               checkpoint_dir=ckpts)
        sweep = write_sweep(store, f"lr {HOSTILE}", [(0.1, ids["baseline"], "completed"),
                                                    (0.05, ids["hostile"], "completed"),
                                                    (0.01, None, "failed")], ids["hostile"])
    damage(path, ids["damaged"], "components", "{this is not JSON")
    # An old or patched writer that did not redact: the dashboard must still hide the secret.
    import json
    import sqlite3

    conn = sqlite3.connect(path)
    with conn:
        row = conn.execute("SELECT config FROM runs WHERE id = ?", (int(ids["old"]),)).fetchone()
        config = json.loads(row[0])
        config["trackers"] = [{"name": "mlflow", "params": {"password": SECRET}}]
        conn.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(config), int(ids["old"])))
    conn.close()
    return UIStore(path, site, ids, sweep)


@pytest.fixture(scope="module")
def ui_url(ui_store: UIStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard over ``ui_store``, served in this process on a free loopback port, with the
    test plugin installed (on sys.path) and a discovery cache of its own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ui_store.site))
        mp.setenv("TORCHRACK_CACHE_DIR", str(tmp_path_factory.mktemp("ui-cache")))
        server: DashboardServer = make_server(ui_store.path, port=0, refresh_seconds=0.5)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        try:
            yield server.url.rstrip("/")
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)
