"""Verdicts from metadata and manifest alone: ok, incompatible, broken, and the warnings."""

from __future__ import annotations

import sys

import pytest
from fakedist import INSTALLED_TORCH, FakeSite, component
from torchrack import PluginInfo, Registry

pytestmark = pytest.mark.usefixtures("isolated")


V = "acme_warn.components:Component"


def discover(site: FakeSite) -> Registry:
    return Registry.discover(path=[str(site.path)])


def plugin(site: FakeSite, dist: str) -> PluginInfo:
    found = discover(site).plugin(dist)
    assert found is not None, f"{dist} was not discovered"
    return found


def test_ok_plugin_registers_its_components_without_importing(site: FakeSite) -> None:
    site.add("acme-losses", components={"focal": component("loss"), "top1": component("metric")})
    reg = discover(site)
    p = reg.plugin("acme-losses")
    assert p is not None and p.verdict == "ok", p
    assert p.reasons == [] and p.warnings == []
    assert [c.qualname for c in reg.components("loss")] == ["acme-losses:focal"]
    assert [c.qualname for c in reg.components("metrics")] == ["acme-losses:top1"]
    assert reg.torch_version == INSTALLED_TORCH
    assert "acme_losses" not in sys.modules


def test_plugin_lookup_accepts_any_spelling_of_the_distribution(site: FakeSite) -> None:
    site.add("Acme_Heads")
    reg = discover(site)
    assert reg.plugin("acme-heads") is reg.plugin("ACME.heads") is not None


@pytest.mark.parametrize(
    ("requires", "api", "expected"),
    [
        (["torchrack>=99"], ">=1,<2", "requires torchrack>=99 but torchrack 0.1.0 is installed"),
        (["torchrack>=0.1", "torch<2"], ">=1,<2", f"requires torch<2 but torch {INSTALLED_TORCH}"),
        (["torchrack>=0.1"], ">=2", "its manifest supports hook API >=2 but torchrack 0.1.0"),
    ],
    ids=["torchrack-requirement", "torch-requirement", "manifest-api-range"],
)
def test_incompatible_names_the_requirement(
    site: FakeSite, requires: list[str], api: str, expected: str
) -> None:
    site.add("acme-old", requires=requires, api=api)
    reg = discover(site)
    p = reg.plugin("acme-old")
    assert p is not None and p.verdict == "incompatible"
    assert any(expected in r for r in p.reasons), p.reasons
    assert reg.components() == [], "an incompatible plugin's components are not registered"


def test_incompatible_lists_every_reason(site: FakeSite) -> None:
    site.add("acme-old", requires=["torchrack>=99", "torch<1"], api=">=3")
    p = plugin(site, "acme-old")
    assert p.verdict == "incompatible"
    assert len(p.reasons) == 3, p.reasons


def test_torch_requirement_without_torch_installed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    site = FakeSite(tmp_path / "bare", tmp_path / "cache", tmp_path / "cwd", torch_version=None)
    site.add("acme-gpu", requires=["torchrack>=0.1", "torch>=2.4"])
    p = Registry.discover(path=[str(site.path)]).plugin("acme-gpu")
    assert p is not None and p.verdict == "incompatible"
    assert "torch is not installed" in p.reasons[0] and "pip install" in p.reasons[0]


@pytest.mark.parametrize(
    "requirement",
    ["torch<1; extra == 'old'", "torch<1; sys_platform == 'nonexistent'", "numpy<0.1", "torchvision<0.1"],
)
def test_requirements_that_do_not_apply_are_ignored(site: FakeSite, requirement: str) -> None:
    site.add("acme-extras", requires=["torchrack>=0.1,<1", requirement])
    assert plugin(site, "acme-extras").verdict == "ok"


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (None, "no torchrack-manifest.json found"),
        ("{not json", "not valid JSON"),
        ({"manifest_version": 1, "components": {}}, "'api' is a required property"),
        (
            {"manifest_version": 1, "api": ">=1", "components": {"x": {"kind": "loss"}}},
            "/components/x",
        ),
        ({"manifest_version": 1, "api": "one or two", "components": {}}, "not a PEP 440 specifier"),
        (
            {
                "manifest_version": 1,
                "api": ">=1",
                "components": {"x": component("loss", params={"type": "no-such-type"})},
            },
            "params schema of 'x' is invalid",
        ),
    ],
    ids=["missing", "invalid-json", "schema-invalid", "component-schema-invalid", "bad-api", "bad-params"],
)
def test_broken_manifest(site: FakeSite, manifest: object, expected: str) -> None:
    site.add("acme-broken", components={"x": component("loss")}, manifest=manifest)
    site.add("acme-good")
    reg = discover(site)
    p = reg.plugin("acme-broken")
    assert p is not None and p.verdict == "broken"
    assert any(expected in r for r in p.reasons), p.reasons
    good = reg.plugin("acme-good")
    assert good is not None and good.verdict == "ok", "one broken plugin never stops the others"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"entry_points": {"torchrack.losses": {"a": V, "b": V}},
             "components": {"a": component("loss")}},
            f"entry point torchrack.losses:b = {V} is not described in the manifest",
        ),
        (
            {"entry_points": {"torchrack.losses": {"a": V}},
             "components": {"a": component("loss"), "ghost": component("loss")}},
            "manifest describes component 'ghost' but the distribution has no entry point",
        ),
        (
            {"entry_points": {"torchrack.losses": {"a": V}}, "components": {"a": component("head")}},
            "entry point a is in group torchrack.losses but the manifest says kind 'head'",
        ),
        ({"hooks": {"tracker": "acme_warn.hooks"}, "manifest_hooks": {}}, "hooks entry point tracker"),
        ({"manifest_hooks": {"tracker": {"summary": "s"}}}, "manifest describes hooks 'tracker'"),
        ({"requires": []}, "declares no Requires-Dist on torchrack"),
        (
            {"components": {"old": component("loss", deprecated={"since": "1.2", "replaced_by": "new"}),
                            "new": component("loss")}},
            "component acme-warn:old is deprecated since 1.2; use 'new' instead",
        ),
    ],
    ids=["ep-not-in-manifest", "manifest-not-in-eps", "kind-mismatch", "hooks-undescribed",
         "hooks-missing", "no-core-requirement", "deprecated"],
)
def test_warnings_keep_the_plugin_usable(site: FakeSite, kwargs: dict[str, object], expected: str) -> None:
    site.add("acme-warn", **kwargs)  # type: ignore[arg-type]
    p = plugin(site, "acme-warn")
    assert p.verdict == "ok"
    assert any(expected in w for w in p.warnings), p.warnings


def test_undescribed_entry_point_is_not_registered(site: FakeSite) -> None:
    site.add(
        "acme-half",
        entry_points={"torchrack.losses": {"a": "acme_half.components:Component",
                                           "b": "acme_half.components:Component"}},
        components={"a": component("loss")},
    )
    assert [c.name for c in discover(site).components("loss")] == ["a"]
