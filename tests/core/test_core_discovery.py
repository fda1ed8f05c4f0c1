"""The discovery scan and its on-disk cache: reused while nothing changed, never required."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakedist import FakeSite, component
from torchrack.plugins._discovery import scan

pytestmark = pytest.mark.usefixtures("isolated")


def names(result) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(d.name for d in result.dists)


def test_second_scan_comes_from_the_cache(site: FakeSite) -> None:
    site.add("acme-losses")
    site.backdate()
    first = scan(path=[site.path])
    assert not first.from_cache
    assert list(site.cache_dir.glob("discovery-*.json")), "the first scan writes the cache"
    second = scan(path=[site.path])
    assert second.from_cache
    assert names(second) == names(first) == ["acme-losses"]
    assert second.dists[0].manifest == first.dists[0].manifest
    assert second.torch_version == first.torch_version is not None


def test_changed_manifest_invalidates_the_cache(site: FakeSite) -> None:
    pkg = site.add("acme-losses", components={"focal": component("loss", "1.0.0")})
    site.backdate()
    scan(path=[site.path])
    manifest = json.loads((pkg / "torchrack-manifest.json").read_text())
    manifest["components"]["focal"]["version"] = "2.0.0"
    (pkg / "torchrack-manifest.json").write_text(json.dumps(manifest))
    again = scan(path=[site.path])
    assert not again.from_cache
    assert again.dists[0].manifest is not None
    assert again.dists[0].manifest["components"]["focal"]["version"] == "2.0.0"


def test_added_distribution_invalidates_the_cache(site: FakeSite) -> None:
    site.add("acme-losses")
    site.backdate()
    scan(path=[site.path])
    site.add("acme-heads")
    again = scan(path=[site.path])
    assert not again.from_cache and names(again) == ["acme-heads", "acme-losses"]


def test_manifest_added_later_is_seen(site: FakeSite) -> None:
    pkg = site.add("acme-losses", manifest=None)
    site.backdate()
    first = scan(path=[site.path])
    assert first.dists[0].manifest is None and first.dists[0].manifest_problems
    assert scan(path=[site.path]).from_cache
    manifest = {"manifest_version": 1, "api": ">=1", "components": {"losses": component()}}
    (pkg / "torchrack-manifest.json").write_text(json.dumps(manifest))
    again = scan(path=[site.path])
    assert not again.from_cache and again.dists[0].manifest_problems == []


def test_no_cache_env_disables_it(site: FakeSite, monkeypatch: pytest.MonkeyPatch) -> None:
    site.add("acme-losses")
    site.backdate()
    monkeypatch.setenv("TORCHRACK_NO_CACHE", "1")
    assert names(scan(path=[site.path])) == ["acme-losses"]
    assert not scan(path=[site.path]).from_cache
    assert not list(site.cache_dir.glob("discovery-*.json"))


def test_unwritable_cache_dir_still_works(
    site: FakeSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.add("acme-losses")
    site.backdate()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TORCHRACK_CACHE_DIR", str(blocker / "cache"))
    assert names(scan(path=[site.path])) == ["acme-losses"]
    assert names(scan(path=[site.path])) == ["acme-losses"]


def test_corrupt_cache_is_a_miss(site: FakeSite) -> None:
    site.add("acme-losses")
    site.backdate()
    scan(path=[site.path])
    for f in site.cache_dir.glob("discovery-*.json"):
        f.write_text("{corrupt")
    result = scan(path=[site.path])
    assert not result.from_cache and names(result) == ["acme-losses"]


def test_cached_and_uncached_scans_give_the_same_verdicts(site: FakeSite) -> None:
    from torchrack import Registry

    site.add("acme-ok")
    site.add("acme-old", requires=["torchrack>=99"])
    site.add("acme-broken", manifest="{")
    site.backdate()
    verdicts = []
    for use_cache in (False, True, True):
        reg = Registry.discover(use_cache=use_cache, path=[str(site.path)])
        verdicts.append({p.name: (p.verdict, p.reasons, p.warnings) for p in reg.plugins})
    assert verdicts[0] == verdicts[1] == verdicts[2]
    assert scan(path=[site.path]).from_cache


def test_files_changed_just_now_are_not_cached(site: FakeSite) -> None:
    site.add("acme-losses")  # mtimes are "now": a second change within the same tick is possible
    scan(path=[site.path])
    assert not scan(path=[site.path]).from_cache


def test_shadowed_distribution_is_skipped(site: FakeSite, tmp_path: Path) -> None:
    later = FakeSite(tmp_path / "later", site.cache_dir, site.cwd, None)
    later.add("acme-losses", version="0.5.0")
    site.add("acme-losses", version="1.0.0")
    result = scan(use_cache=False, path=[site.path, later.path])
    assert [(d.name, d.version) for d in result.dists] == [("acme-losses", "1.0.0")]


def test_metadata_body_is_not_read_as_headers(site: FakeSite) -> None:
    site.add("acme-losses", requires=["torchrack>=0.1"])
    (dist,) = scan(use_cache=False, path=[site.path]).dists
    assert dist.name == "acme-losses" and dist.requires == ["torchrack>=0.1"]


def _count_manifest_reads(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    import torchrack.plugins._discovery as discovery

    reads: list[str | None] = []
    real = discovery._read_manifest_stamped  # what the scan reads manifests with

    def counting(path: str | None, *rest):  # type: ignore[no-untyped-def]
        reads.append(path)
        return real(path, *rest)

    monkeypatch.setattr(discovery, "_read_manifest_stamped", counting)
    return reads


def test_after_an_install_only_the_new_distribution_is_read(
    site: FakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    for dist in ("acme-losses", "acme-heads", "acme-metrics"):
        site.add(dist)
    site.backdate()
    first = scan(path=[site.path])
    reads = _count_manifest_reads(monkeypatch)
    site.add("acme-backbones")
    again = scan(path=[site.path])
    assert not again.from_cache
    assert names(again) == ["acme-backbones", "acme-heads", "acme-losses", "acme-metrics"]
    assert len(reads) == 1 and "acme_backbones" in str(reads[0]), reads
    old = {d.name: d.manifest for d in first.dists}
    assert all(d.manifest == old[d.name] for d in again.dists if d.name in old)


def test_a_changed_or_removed_distribution_is_not_taken_from_the_stale_cache(
    site: FakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    changed = site.add("acme-losses", components={"focal": component("loss", "1.0.0")})
    site.add("acme-heads")
    site.add("acme-metrics")
    site.backdate()
    scan(path=[site.path])
    reads = _count_manifest_reads(monkeypatch)
    manifest = json.loads((changed / "torchrack-manifest.json").read_text())
    manifest["components"]["focal"]["params"] = {"type": "object", "properties": {"x": {"type": "nope"}}}
    (changed / "torchrack-manifest.json").write_text(json.dumps(manifest))
    shutil.rmtree(site.path / "acme_metrics-1.0.0.dist-info")
    again = scan(path=[site.path])
    assert names(again) == ["acme-heads", "acme-losses"]
    assert len(reads) == 1 and "acme_losses" in str(reads[0]), reads
    (losses,) = [d for d in again.dists if d.name == "acme-losses"]
    assert losses.manifest_problems and "params schema of 'focal' is invalid" in losses.manifest_problems[0]


def test_cached_facts_keep_every_field() -> None:
    """DistFacts.to_json (the cache's writer) holds every field (every __init__ parameter, each
    also in ``_fields``, which repr and == compare), and from_json reads it back equal: a field
    added later cannot silently drop out of the cache."""
    import inspect

    from torchrack.plugins._facts import DistFacts, EntryPointFact

    params = list(inspect.signature(DistFacts.__init__).parameters)[1:]
    assert params == list(DistFacts._fields)
    facts = DistFacts("acme", "1.0", "/site/acme-1.0.dist-info", ["torchrack>=0.1"],
                      [EntryPointFact("torchrack.losses", "l1", "acme.losses:L1")], "/site/acme/m.json",
                      {"manifest_version": 1}, ["a problem"], [("/site/x", 1, 2)], {"reasons": []})
    as_json = facts.to_json()
    assert list(as_json) == params
    assert as_json["entry_points"] == [{"group": "torchrack.losses", "name": "l1", "value": "acme.losses:L1"}]
    assert {k: v for k, v in as_json.items() if k != "entry_points"} == {
        k: getattr(facts, k) for k in params if k != "entry_points"}
    assert DistFacts.from_json(json.loads(json.dumps(facts.to_json()))) == facts
