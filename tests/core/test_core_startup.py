"""The cold path: the content-addressed cache of manifest verdicts, and a discovery cache that does
not depend on the working directory (issue: fast where CI and new environments live)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fakedist import FakeSite

pytestmark = pytest.mark.usefixtures("isolated")


def _discover(site: FakeSite) -> dict[str, str]:
    from torchrack.plugins import Registry

    reg = Registry.discover(path=[str(site.path)])
    return {p.name: p.verdict for p in reg.plugins}


def test_a_cold_scan_reuses_verdicts_by_manifest_content(site: FakeSite, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchrack.contracts._schemas as schemas

    site.add("acme-losses")
    site.add("acme-heads", manifest='{"manifest_version": 1, "api": ">=1,<2", "components": 5}')
    site.backdate()
    first = _discover(site)
    assert first == {"acme-losses": "ok", "acme-heads": "broken"}
    for f in site.cache_dir.glob("discovery-*.json"):
        f.unlink()  # a new environment: no discovery cache, but the same manifests
    calls: list[str] = []
    real = schemas.validate
    monkeypatch.setattr(schemas, "validate", lambda name, inst: calls.append(name) or real(name, inst))
    again = _discover(site)
    assert again == first and calls == [], calls
    # the broken one's reasons are the same, naming the manifest file
    from torchrack.plugins import Registry

    bad = Registry.discover(path=[str(site.path)]).plugin("acme-heads")
    assert bad is not None and str(site.path / "acme_heads" / "torchrack-manifest.json") in bad.reasons[0]
    # a changed manifest is validated again: the verdict follows the bytes
    (site.path / "acme_losses" / "torchrack-manifest.json").write_text('{"manifest_version": 2}')
    site.backdate()
    assert _discover(site)["acme-losses"] == "broken" and calls


def test_the_verdict_cache_is_off_with_the_discovery_cache(site: FakeSite, monkeypatch: pytest.MonkeyPatch) -> None:
    site.add("acme-losses")
    site.backdate()
    monkeypatch.setenv("TORCHRACK_NO_CACHE", "1")
    assert _discover(site) == {"acme-losses": "ok"}
    assert not (site.cache_dir / "manifests").exists()


def test_an_unwritable_cache_folder_costs_speed_never_correctness(site: FakeSite, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TORCHRACK_CACHE_DIR", str(blocker / "cache"))  # cannot be created, even by root
    site.add("acme-losses")
    site.add("acme-bad", manifest="{not json")
    site.backdate()
    for _ in range(2):
        assert _discover(site) == {"acme-losses": "ok", "acme-bad": "broken"}


def test_concurrent_writers_leave_a_whole_verdict_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchrack.plugins._cache import VerdictBook, manifest_digest

    monkeypatch.setenv("TORCHRACK_CACHE_DIR", str(tmp_path / "cache"))
    digest = manifest_digest(b'{"manifest_version": 1}')
    expected = [f"problem {i}" for i in range(200)]  # long enough that a torn write would show
    bad: list[object] = []
    stop = threading.Event()

    def write(n: int) -> None:
        i = 0
        while not stop.is_set():  # each writer adds entries of its own beside the shared one
            book = VerdictBook()
            book.put(digest, expected)
            book.put(f"writer-{n}-{i}", [])
            book.save()
            i += 1

    def read() -> None:
        for _ in range(500):
            got = VerdictBook().get(digest)
            if got is not None and got != expected:
                bad.append(got)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for w in writers:
        w.start()
    read()
    stop.set()
    for w in writers:
        w.join()
    assert bad == []
    assert VerdictBook().get(digest) == expected
    folder = tmp_path / "cache" / "manifests"
    assert [f.name for f in folder.iterdir()] == ["verdicts.json"]  # no temporary left behind


def test_the_verdict_file_keeps_what_other_writers_added_and_is_bounded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchrack.plugins import _cache

    monkeypatch.setenv("TORCHRACK_CACHE_DIR", str(tmp_path / "cache"))
    first, second = _cache.VerdictBook(), _cache.VerdictBook()
    assert first.get("a") is None and second.get("b") is None  # both read the (absent) file
    first.put("a", ["one problem"])
    first.save()
    second.put("b", [])
    second.save()  # the file changed since second read it: merged, not overwritten
    book = _cache.VerdictBook()
    assert book.get("a") == ["one problem"] and book.get("b") == []
    monkeypatch.setattr(_cache, "_MAX_VERDICTS", 3)
    for key in "cde":
        book.put(key, [])
    book.save()
    kept = json.loads((tmp_path / "cache" / "manifests" / "verdicts.json").read_text())["verdicts"]
    assert list(kept) == ["c", "d", "e"]  # the newest
    # an entry of the wrong shape, or a file of another format, is a miss, never trusted
    (tmp_path / "cache" / "manifests" / "verdicts.json").write_text(json.dumps(
        {"format": _cache._VERDICT_FORMAT, "verdicts": {"c": "not a list", "d": [1], "e": []}}))
    book = _cache.VerdictBook()
    assert (book.get("c"), book.get("d"), book.get("e")) == (None, None, [])
    (tmp_path / "cache" / "manifests" / "verdicts.json").write_text('{"format": 1, "problems": []}')
    assert _cache.VerdictBook().get("e") is None


def test_two_processes_scanning_one_cold_cache_both_succeed(site: FakeSite) -> None:
    for i in range(20):
        site.add(f"acme-p{i}")
    site.backdate()
    code = "from torchrack.plugins import Registry; import sys; r = Registry.discover(path=[sys.argv[1]]); print(sorted({p.verdict for p in r.plugins}))"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(site.path)], env=site.env(), cwd=site.cwd,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert all(o.strip() == "['ok']" for o, _ in outs), outs
    verdicts = json.loads((site.cache_dir / "manifests" / "verdicts.json").read_text())["verdicts"]
    assert len(verdicts) == 20 and all(v == [] for v in verdicts.values())


def test_python_m_torchrack_shares_one_cache_across_working_folders(site: FakeSite, tmp_path: Path) -> None:
    site.add("acme-losses")
    site.backdate()
    env = site.env()
    runs = []
    for name in ("one", "two", "three"):
        cwd = tmp_path / name
        cwd.mkdir()
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "torchrack", "list", "--json"],
                              cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        runs.append(done)
    assert len(list(site.cache_dir.glob("discovery-*.json"))) == 1
    # the second and third folders hit the first one's cache: no manifest validated, no jsonschema
    for done in runs[1:]:
        assert "jsonschema" not in done.stderr
        assert json.loads(done.stdout)["components"] == json.loads(runs[0].stdout)["components"]
    # a folder that holds distribution metadata is part of the key
    odd = tmp_path / "four"
    (odd / "thing-1.0.dist-info").mkdir(parents=True)
    (odd / "thing-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: thing\nVersion: 1.0\n")
    os.utime(odd, (0, 0))
    subprocess.run([sys.executable, "-m", "torchrack", "list"], cwd=odd, env=env, check=True,
                   capture_output=True, timeout=120)
    assert len(list(site.cache_dir.glob("discovery-*.json"))) == 2
