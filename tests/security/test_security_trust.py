"""The trust boundary: no command imports a module of a denied distribution or of a component
that is not allowed, whatever the path (issue: hardening, class 1).

Every planted module appends its name to a marker file when imported; each test walks the
commands against one shape of attack and then checks the marker is still absent. A control run
without the deny rule shows the marker does record imports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ._plugins import HEAD_CODE, HEAD_SPEC, config_with_head, torchrack

pytestmark = pytest.mark.slow

MARK = '''
import os
if os.environ.get("PLANT_TRUST_MARKER"):
    with open(os.environ["PLANT_TRUST_MARKER"], "a") as fh:
        fh.write(__name__ + "\\n")
'''

TRACKER = MARK + '''
from torchrack import hookimpl


@hookimpl
def torchrack_run_start(run, config):
    pass
'''


def _dist(site: Path, dist: str, *, eps: dict[str, dict[str, str]], files: dict[str, str],
          manifest: dict[str, Any] | None) -> None:
    """A distribution: ``files`` (relative path -> text) and entry points, RECORD listing them."""
    for rel, text in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n"
                                   "Requires-Dist: torchrack>=0.1,<1\n")
    text = "".join(f"[{g}]\n" + "".join(f"{n} = {v}\n" for n, v in e.items()) for g, e in eps.items())
    (info / "entry_points.txt").write_text(text)
    if manifest is not None:
        top = next(iter(files)).split("/")[0]
        (site / top / "torchrack-manifest.json").write_text(json.dumps(manifest))
        files = {**files, f"{top}/torchrack-manifest.json": ""}
    (info / "RECORD").write_text("".join(f"{rel},,\n" for rel in files)
                                 + f"{info.name}/METADATA,,\n{info.name}/RECORD,,\n")


def _heads(names: list[str]) -> dict[str, Any]:
    return {"manifest_version": 1, "api": ">=1,<2", "components": {n: HEAD_SPEC for n in names}}


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    """good-heads (allowed), evil-heads (a head and a tracker), proxy-heads (an entry point into
    evil_pkg, the package of evil-pkg, which registers nothing), pulls-heads (imports evil_pkg)."""
    site = tmp_path / "site"
    _dist(site, "good-heads", eps={"torchrack.heads": {"good_head": "good_heads:Head"}},
          files={"good_heads/__init__.py": HEAD_CODE}, manifest=_heads(["good_head"]))
    _dist(site, "evil-heads",
          eps={"torchrack.heads": {"evil_head": "evil_heads:Head"},
               "torchrack.hooks": {"evil_tracker": "evil_heads.tracker"}},
          files={"evil_heads/__init__.py": MARK + HEAD_CODE, "evil_heads/tracker.py": TRACKER},
          manifest={**_heads(["evil_head"]), "hooks": {"evil_tracker": {"summary": "a tracker"}}})
    _dist(site, "evil-pkg", eps={}, files={"evil_pkg/__init__.py": MARK + HEAD_CODE}, manifest=None)
    _dist(site, "proxy-heads",
          eps={"torchrack.heads": {"proxy_own": "proxy_heads:Head", "proxy_head": "evil_pkg:Head"}},
          files={"proxy_heads/__init__.py": HEAD_CODE}, manifest=_heads(["proxy_own", "proxy_head"]))
    _dist(site, "pulls-heads", eps={"torchrack.heads": {"pulls_head": "pulls_heads:Head"}},
          files={"pulls_heads/__init__.py": "from evil_pkg import Head  # noqa\n"},
          manifest=_heads(["pulls_head"]))
    return {"site": site, "marker": tmp_path / "imported.txt", "tmp": tmp_path}


def _walk(world: dict[str, Any], env: dict[str, str], configs: list[Path]) -> list[str]:
    """Every command that could import plugin code; returns each one's combined output."""
    site, tmp = world["site"], world["tmp"]
    outputs = []
    # Every command that can import plugin code, once each (the import probe of check and info
    # imports in child processes: one `check` covers every distribution, --dist the same path).
    commands = [["list", "--json"], ["check", "--json"], ["info", "evil_head"], ["info", "proxy_head"],
                ["info", "evil_tracker"], ["verify"]]
    for config in configs:
        commands += [["validate", "--static", str(config)], ["validate", str(config)],
                     ["lock", str(config), "-o", str(tmp / "x.lock")]]
    for args in commands:
        done = torchrack(*args, cwd=tmp, site=site, env={"PLANT_TRUST_MARKER": str(world["marker"]), **env})
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr, (args, done.stderr)
        outputs.append(done.stdout + done.stderr)
    return outputs


def _imported(world: dict[str, Any]) -> list[str]:
    marker: Path = world["marker"]
    return marker.read_text().split() if marker.exists() else []


def test_a_component_denied_as_dist_name_is_imported_by_no_command(world: dict[str, Any]) -> None:
    head = config_with_head(world["tmp"], "evil_head")
    _walk(world, {"TORCHRACK_DENY": "evil-heads:evil_head,evil-pkg"}, [head])
    assert _imported(world) == []
    refused = torchrack("validate", str(head), cwd=world["tmp"], site=world["site"],
                        env={"TORCHRACK_DENY": "evil-heads:evil_head"})
    assert refused.returncode == 1 and "denied" in refused.stderr and "/model/head/name" in refused.stderr


def test_a_tracker_denied_or_not_allowed_is_refused_statically_and_never_imported(world: dict[str, Any]) -> None:
    tmp = world["tmp"]
    base = config_with_head(tmp, "good_head")
    text = base.read_text().replace("[run]", '[run]\n', 1)
    tracked = tmp / "tracked.toml"
    tracked.write_text('trackers = [{ name = "evil-heads:evil_tracker" }]\n' + text)
    for env in ({"TORCHRACK_DENY": "evil-heads:evil_tracker,evil-pkg"},
                {"TORCHRACK_ALLOW": "good-heads,torchrack-datasets,torchrack-augment,torchrack-backbones,"
                                    "torchrack-heads,torchrack-losses,torchrack-metrics,torchrack-runs,"
                                    "torchrack-accelerators"}):
        world["marker"].unlink(missing_ok=True)
        for args in (["validate", "--static", str(tracked)], ["run", str(tracked)]):
            done = torchrack(*args, cwd=tmp, site=world["site"],
                             env={"PLANT_TRUST_MARKER": str(world["marker"]), **env})
            assert done.returncode == 1, (args, env, done.stdout, done.stderr)
            assert "/trackers/0/name" in done.stderr and "Traceback" not in done.stderr
        _walk(world, env, [tracked])
        # the tracker's module never; with the allow list, nothing of evil-heads at all (with
        # the deny rule, evil_heads itself is the allowed head's module and may be probed)
        assert "evil_heads.tracker" not in _imported(world)
        if "TORCHRACK_ALLOW" in env:
            assert _imported(world) == []
    # control: allowed, the tracker is imported by the run
    ran = torchrack("run", str(tracked), "--set", "run.epochs=1", cwd=tmp, site=world["site"],
                    env={"PLANT_TRUST_MARKER": str(world["marker"])})
    assert ran.returncode == 0, ran.stderr
    assert "evil_heads.tracker" in _imported(world)


@pytest.mark.parametrize("name", ["os:system", "system", "subprocess:run", "evil_heads.tracker"])
def test_a_tracker_that_names_no_hooks_entry_point_is_refused(world: dict[str, Any], name: str) -> None:
    tmp = world["tmp"]
    config = tmp / "t.toml"
    config.write_text(f'trackers = [{{ name = "{name}" }}]\n' + config_with_head(tmp, "good_head").read_text())
    done = torchrack("validate", "--static", str(config), cwd=tmp, site=world["site"])
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "/trackers/0" in done.stderr


def test_trust_follows_the_module_an_allowed_entry_point_names(world: dict[str, Any]) -> None:
    tmp = world["tmp"]
    proxy = config_with_head(tmp, "proxy_head")
    outputs = _walk(world, {"TORCHRACK_DENY": "evil-pkg"}, [proxy])
    assert "evil_pkg" not in _imported(world)
    assert any("evil_pkg" in out and "evil-pkg" in out for out in outputs)
    refused = torchrack("run", str(proxy), cwd=tmp, site=world["site"], env={"TORCHRACK_DENY": "evil-pkg"})
    assert refused.returncode == 1 and "evil-pkg" in refused.stderr
    checked = torchrack("check", "--dist", "proxy-heads", cwd=tmp, site=world["site"],
                        env={"TORCHRACK_DENY": "evil-pkg"})
    assert checked.returncode == 1 and "refused" in checked.stdout and "evil_pkg" in checked.stdout


def test_an_allowed_plugin_cannot_pull_a_denied_package_in(world: dict[str, Any]) -> None:
    tmp = world["tmp"]
    pulls = config_with_head(tmp, "pulls_head")
    _walk(world, {"TORCHRACK_DENY": "evil-pkg"}, [pulls])
    assert "evil_pkg" not in _imported(world)
    checked = torchrack("check", "--dist", "pulls-heads", cwd=tmp, site=world["site"],
                        env={"TORCHRACK_DENY": "evil-pkg"})
    assert checked.returncode == 1 and "refused" in checked.stdout
    # control: without the deny rule the same config imports evil_pkg
    ok = torchrack("validate", str(pulls), cwd=tmp, site=world["site"],
                   env={"PLANT_TRUST_MARKER": str(world["marker"])})
    assert ok.returncode == 0, ok.stderr
    assert "evil_pkg" in _imported(world)


PATCHER = '''
import sys
import torchrack_runs._redact as red

# A hostile plugin: turn every redaction in torchrack-runs into a no-op, wherever it was imported.
def _same(obj, **kwargs):
    return obj

for mod in [m for name, m in list(sys.modules.items()) if name.startswith("torchrack_runs")]:
    for attr, fake in (("redact", _same), ("scrub", lambda text, secrets: text),
                       ("secret_values", lambda *a, **k: set()), ("is_sensitive_key", lambda key: False)):
        if hasattr(mod, attr):
            setattr(mod, attr, fake)
''' + HEAD_CODE


def test_a_plugin_that_patches_redaction_still_gets_no_secret_stored(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "sly-heads", eps={"torchrack.heads": {"sly_head": "sly_heads:Head"}},
          files={"sly_heads/__init__.py": PATCHER}, manifest=_heads(["sly_head"]))
    token, auth = "tok-9Rr2-never-stored", "auth-q7Lm-never-stored"
    config = config_with_head(tmp_path, "sly_head", {"token": token, "auth": auth}, epochs=1)
    ran = torchrack("run", str(config), cwd=tmp_path, site=site)
    assert ran.returncode == 0, ran.stderr
    shown = torchrack("runs", "show", "latest", "--json", cwd=tmp_path, site=site)
    assert shown.returncode == 0
    blobs = [p.read_bytes() for p in (tmp_path / ".torchrack").rglob("*") if p.is_file()]
    for secret in (token, auth):
        assert secret not in shown.stdout
        assert not any(secret.encode() in b for b in blobs), "a secret reached the store folder"
