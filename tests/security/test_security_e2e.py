"""Trust, redaction and fault isolation, end to end through the CLI (issue: security)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from ._plugins import DIGITS, HOOK_CODE, config_with_head, torchrack, write_dist

pytestmark = pytest.mark.slow


def test_denied_plugin_is_never_imported_by_any_command(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_dist(site, "evil-heads", heads={"evil_head": "Head"})
    marker = tmp_path / "imported.txt"
    env = {"TORCHRACK_DENY": "evil-heads", "PLANT_IMPORT_MARKER": str(marker)}
    listed = torchrack("list", "--json", cwd=tmp_path, site=site, env=env)
    assert listed.returncode == 0, listed.stderr
    plugin = next(p for p in json.loads(listed.stdout)["plugins"] if p["name"] == "evil-heads")
    assert plugin["verdict"] == "denied" and "TORCHRACK_DENY" in plugin["reasons"][0]
    assert torchrack("check", cwd=tmp_path, site=site, env=env).returncode == 0
    config = config_with_head(tmp_path, "linear")
    assert torchrack("validate", str(config), cwd=tmp_path, site=site, env=env).returncode == 0
    ran = torchrack("run", str(config), cwd=tmp_path, site=site, env=env)
    assert ran.returncode == 0, ran.stderr
    # naming the denied component is an error that says why, and still imports nothing
    named = config_with_head(tmp_path, "evil_head")
    refused = torchrack("run", str(named), cwd=tmp_path, site=site, env=env)
    assert refused.returncode == 1
    assert "denied" in refused.stderr and "/model/head/name" in refused.stderr
    assert not marker.exists()
    # control: without the deny list the same module is imported (so the marker works)
    env.pop("TORCHRACK_DENY")
    assert torchrack("validate", str(named), cwd=tmp_path, site=site, env=env).returncode == 0
    assert marker.exists()


def test_secrets_appear_nowhere_in_store_events_or_show(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_dist(site, "secret-heads", heads={"secret_head": "Head"})
    token, auth = "tok-4f7Q-very-secret", "auth-Zx81-sensitive"
    config = config_with_head(tmp_path, "secret_head", {"token": token, "auth": auth})
    ran = torchrack("run", str(config), cwd=tmp_path, site=site)
    assert ran.returncode == 0, ran.stderr
    shown = torchrack("runs", "show", "latest", "--json", cwd=tmp_path, site=site)
    plain = torchrack("runs", "show", "latest", cwd=tmp_path, site=site)
    texts = [shown.stdout, plain.stdout, ran.stdout, ran.stderr]
    blobs = [p.read_bytes() for p in (tmp_path / ".torchrack").rglob("*") if p.is_file()]
    for secret in (token, auth):
        assert not any(secret in t for t in texts)
        assert not any(secret.encode() in b for b in blobs), "secret found in the store folder"
    record = json.loads(shown.stdout)
    assert record["config"]["model"]["head"]["params"]["token"] == "***"
    assert record["config"]["model"]["head"]["params"]["auth"] == "***"


def test_a_forward_failure_is_recorded_and_names_the_component(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_dist(site, "faulty-heads", heads={"faulty_head": "Head"})
    good = torchrack("run", str(config_with_head(tmp_path, "linear")), cwd=tmp_path, site=site)
    assert good.returncode == 0, good.stderr
    bad = torchrack("run", str(config_with_head(tmp_path, "faulty_head", {"fail_at_forward": True})),
                    cwd=tmp_path, site=site)
    assert bad.returncode == 1
    assert "faulty-heads:faulty_head" in bad.stderr and "faulty-heads 1.0" in bad.stderr
    assert "planted forward failure" in bad.stderr and "Traceback" not in bad.stderr
    runs = json.loads(torchrack("runs", "list", "--json", cwd=tmp_path, site=site).stdout)
    by_id = {r["run_id"]: r for r in runs}
    assert by_id["1"]["status"] == "completed"  # the earlier run is unaffected
    assert by_id["2"]["status"] == "failed" and "planted forward failure" in by_id["2"]["error"]


@pytest.mark.parametrize(
    ("plant", "expected"),
    [("PLANT_IMPORT_ERROR", "failed to import"), ("PLANT_CONSTRUCT_ERROR", "construction")],
)
def test_import_and_construction_failures_name_component_and_distribution(
    tmp_path: Path, plant: str, expected: str
) -> None:
    site = tmp_path / "site"
    write_dist(site, "faulty-heads", heads={"faulty_head": "Head"})
    bad = torchrack("run", str(config_with_head(tmp_path, "faulty_head")), cwd=tmp_path, site=site,
                    env={plant: "1"})
    assert bad.returncode == 1
    assert "faulty-heads:faulty_head" in bad.stderr and expected in bad.stderr
    assert "Traceback" not in bad.stderr
    # the other plugins still list and validate
    listed = torchrack("list", cwd=tmp_path, site=site, env={plant: "1"})
    assert "small_cnn" in listed.stdout
    ok = torchrack("validate", str(DIGITS), cwd=tmp_path, site=site, env={plant: "1"})
    assert ok.returncode == 0, ok.stderr


def test_a_failing_tracker_hook_names_its_plugin_and_never_loses_the_run(tmp_path: Path) -> None:
    """A tracker (a hooks plugin named in ``trackers``) that raises is a warning naming it, in the
    console and the record; the run completes and is recorded (docs/tracking.md)."""
    site = tmp_path / "site"
    write_dist(site, "noisy-trackers", hooks={"noisy": HOOK_CODE})
    config = config_with_head(tmp_path, "linear", extra='\n[[trackers]]\nname = "noisy"\n')
    proc = torchrack("run", str(config), cwd=tmp_path, site=site)
    assert proc.returncode == 0, proc.stderr
    assert "torchrack: warning: tracker noisy-trackers:noisy failed in torchrack_epoch_end" in proc.stderr
    assert "planted hook failure" in proc.stderr and "Traceback" not in proc.stderr
    record = json.loads(torchrack("runs", "show", "latest", "--json", cwd=tmp_path, site=site).stdout)
    assert record["status"] == "completed" and record["epochs"]
    assert [(w["source"], w["hook"]) for w in record["warnings"]] == [("noisy-trackers:noisy",
                                                                      "torchrack_epoch_end")]
    assert "planted hook failure" in record["warnings"][0]["message"]


def test_eight_concurrent_runs_on_one_store_lose_no_record(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    config = config_with_head(tmp_path, "linear")
    env = {**os.environ, "TORCHRACK_CACHE_DIR": str(tmp_path / ".cache"), "OMP_NUM_THREADS": "1"}
    env.pop("TORCHRACK_STORE", None)
    procs = [
        subprocess.Popen([sys.executable, "-m", "torchrack", "run", str(config),
                          "--set", f"run.seed={i}", "--set", "run.name=\"r{i}\""],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i in range(8)
    ]
    for p in procs:
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, err.decode()[-2000:]
    runs = json.loads(torchrack("runs", "list", "--json", cwd=tmp_path).stdout)
    assert len(runs) == 8
    assert {r["status"] for r in runs} == {"completed"}
    assert all(r["final_metrics"].get("accuracy") is not None for r in runs)
    with sqlite3.connect(tmp_path / ".torchrack" / "runs.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
