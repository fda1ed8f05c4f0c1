"""The listing cache: a warm `torchrack list` prints what the last one printed while nothing it
depends on changed (scanned files, trust settings, view), and never anything stale or damaged."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from fakedist import FakeSite, component

pytestmark = pytest.mark.usefixtures("isolated")


def _listing(site: FakeSite, *args: str, **env: str) -> str:
    done = site.cli("list", *args, env=site.env(**env))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done.stdout


def _warm(site: FakeSite, *args: str, **env: str) -> str:
    """List until the listing cache holds this view (the discovery cache first, then the listing),
    and return what was printed."""
    outs = [_listing(site, *args, **env) for _ in range(3)]
    assert outs[0] == outs[1] == outs[2]
    return outs[0]


def _acme(listing: str) -> dict[str, str]:
    """Verdict by plugin, of this test's plugins only (the environment's own are listed too)."""
    return {p["name"]: p["verdict"] for p in json.loads(listing)["plugins"] if p["name"].startswith("acme-")}


def _files(site: FakeSite) -> list[Path]:
    return sorted(site.cache_dir.glob("listing-*.txt"))


def _forge(file: Path, body: str) -> None:
    """Replace the remembered text, with a header that matches it (as only torchrack writes one)."""
    from torchrack.plugins._cache import _digest

    header_line, _, _ = file.read_bytes().partition(b"\n")
    header = json.loads(header_line)
    header["checksum"] = _digest(body.encode())
    file.write_bytes(json.dumps(header).encode() + b"\n" + body.encode())


def test_a_warm_listing_is_printed_from_the_listing_cache_for_each_view(site: FakeSite) -> None:
    site.add("acme-losses")
    site.add("acme-heads", components={"mlp": component("head")})
    site.backdate()
    views = [("--json",), (), ("--kind", "head"), ("--kind", "loss", "--json")]
    printed = {v: _warm(site, *v) for v in views}
    assert len(_files(site)) == len(views)  # one per view
    assert _acme(printed[("--json",)]) == {"acme-losses": "ok", "acme-heads": "ok"}
    assert "mlp" in printed[("--kind", "head")] and "acme-losses" not in printed[("--kind", "head")]
    # The remembered text is what a hit prints: forge it to tell a hit from a recomputation.
    for f in _files(site):
        _forge(f, "FROM THE LISTING CACHE\n")
    for v in views:
        assert _listing(site, *v) == "FROM THE LISTING CACHE\n"


def test_no_cache_lists_in_full(site: FakeSite) -> None:
    site.add("acme-losses")
    site.backdate()
    real = _warm(site, "--json")
    for f in _files(site):
        _forge(f, "STALE\n")
    assert _listing(site, "--json", TORCHRACK_NO_CACHE="1") == real


def test_an_edited_manifest_is_listed_as_it_is_now(site: FakeSite) -> None:
    pkg = site.add("acme-losses", components={"focal": component("loss", "1.0.0")})
    site.backdate()
    assert '"version": "1.0.0"' in _warm(site, "--json").replace('":"', '": "')
    manifest_file = pkg / "torchrack-manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["components"]["focal"]["version"] = "2.0.0"
    manifest_file.write_text(json.dumps(manifest))
    comps = json.loads(_listing(site, "--json"))["components"]
    assert [c["version"] for c in comps if c["distribution"] == "acme-losses"] == ["2.0.0"]


def test_a_newly_installed_plugin_is_listed(site: FakeSite) -> None:
    site.add("acme-losses")
    site.backdate()
    _warm(site)
    site.add("acme-metrics", components={"recall": component("metric")})
    assert "recall" in _listing(site)


def test_other_trust_settings_give_their_own_listing(site: FakeSite) -> None:
    site.add("acme-losses")
    site.backdate()
    plain = _warm(site, "--json")
    assert _acme(plain) == {"acme-losses": "ok"}
    assert _acme(_listing(site, "--json", TORCHRACK_DENY="acme-losses")) == {"acme-losses": "denied"}
    # ... and a torchrack.toml in the working directory, too
    (site.cwd / "torchrack.toml").write_text('deny = ["acme-losses"]\n')
    assert _acme(_listing(site, "--json")) == {"acme-losses": "denied"}
    (site.cwd / "torchrack.toml").unlink()
    assert _listing(site, "--json") == plain


@pytest.mark.parametrize("damage", ["truncated", "garbage", "body changed", "header only",
                                    "bad stamps", "not json header", "empty"])
def test_a_damaged_listing_file_is_a_miss_never_an_error(site: FakeSite, damage: str) -> None:
    site.add("acme-losses")
    site.backdate()
    real = _warm(site, "--json")
    (f,) = _files(site)
    data = f.read_bytes()
    header_line, _, body = data.partition(b"\n")
    header = json.loads(header_line)
    if damage == "truncated":
        f.write_bytes(data[: len(data) - 40])
    elif damage == "garbage":
        f.write_bytes(b"\x00\xff" * 100)
    elif damage == "body changed":
        f.write_bytes(header_line + b"\n" + body.replace(b"acme", b"evil"))
    elif damage == "header only":
        f.write_bytes(header_line)
    elif damage == "bad stamps":
        header["stamps"] = [1, "x", None]
        f.write_bytes(json.dumps(header).encode() + b"\n" + body)
    elif damage == "not json header":
        f.write_bytes(b"[" * 50_000 + b"\n" + body)
    else:
        f.write_bytes(b"")
    assert _listing(site, "--json") == real


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the check needs a normal user")
def test_an_unwritable_cache_folder_still_lists(site: FakeSite) -> None:
    site.add("acme-losses")
    site.backdate()
    real = _listing(site, "--json")
    site.cache_dir.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert _listing(site, "--json") == _listing(site, "--json") == real
    finally:
        site.cache_dir.chmod(stat.S_IRWXU)


def test_a_cache_path_that_is_a_file_still_lists(site: FakeSite) -> None:
    site.add("acme-losses")
    site.backdate()
    real = _listing(site, "--json")
    blocker = site.cwd / "not-a-folder"
    blocker.write_text("x")
    env = {"TORCHRACK_CACHE_DIR": str(blocker)}
    assert _listing(site, "--json", **env) == _listing(site, "--json", **env) == real


def test_fifos_in_place_of_every_cache_file_are_misses_not_hangs(site: FakeSite) -> None:
    """A FIFO where a cache file belongs (listing, discovery or manifest verdict) would block a
    plain open() forever; each is read without blocking and is a miss."""
    site.add("acme-losses")
    site.backdate()
    real = _warm(site, "--json")
    replaced = [f for f in site.cache_dir.rglob("*") if f.is_file()]
    assert {f.name.split("-")[0] for f in replaced} >= {"listing", "discovery"}
    assert any(f.parent.name == "manifests" for f in replaced)
    for f in replaced:
        f.unlink()
        os.mkfifo(f)
    assert _listing(site, "--json") == real  # site.cli's timeout fails a hang
