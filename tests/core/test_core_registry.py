"""Resolving components by name, dist:name and version; deprecations; import on first use."""

from __future__ import annotations

import sys

import pytest
from fakedist import FakeSite, component
from torchrack import (
    AmbiguousComponentError,
    ComponentNotFoundError,
    ComponentRef,
    ComponentVersionError,
    PluginImportError,
    Registry,
    TorchrackDeprecationWarning,
    TorchrackError,
)

pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def reg(site: FakeSite, monkeypatch: pytest.MonkeyPatch) -> Registry:
    site.add(
        "acme-losses",
        components={
            "focal": component("loss", "1.4.0"),
            "dice": component("loss", "2.0.0"),
            "old_focal": component("loss", "0.9.0", deprecated={"since": "1.1", "replaced_by": "focal"}),
            "legacy": component("loss", "0.1.0", deprecated={"since": "0.5"}),
        },
    )
    site.add("other-losses", components={"dice": component("loss", "1.0.0")})
    site.add("acme-metrics", components={"top1": component("metric")})
    monkeypatch.syspath_prepend(str(site.path))
    return Registry.discover(path=[str(site.path)])


def test_resolve_bare_name(reg: Registry) -> None:
    comp = reg.resolve("loss", "focal")
    assert (comp.qualname, comp.version, comp.dist) == ("acme-losses:focal", "1.4.0", "acme-losses")


@pytest.mark.parametrize("kind", ["loss", "losses", "torchrack.losses", " Loss "])
def test_kind_spellings(reg: Registry, kind: str) -> None:
    assert reg.resolve(kind, "focal").kind == "loss"


def test_unknown_kind(reg: Registry) -> None:
    with pytest.raises(TorchrackError, match=r"unknown kind 'lossy' \(did you mean 'loss'\?\); expected one of: dataset"):
        reg.resolve("lossy", "focal")


@pytest.mark.parametrize("kind", ["", " ", "lossy"])
def test_an_empty_or_unknown_kind_is_refused_not_taken_for_every_kind(reg: Registry, kind: str) -> None:
    # `torchrack list --kind ""` (an unset shell variable) listed everything
    with pytest.raises(TorchrackError, match=rf"unknown kind {kind!r}.*expected one of: dataset"):
        reg.components(kind)
    assert reg.components(None) == reg.components()


@pytest.mark.parametrize("ref", ["other-losses:dice", "other_losses:dice", "Other.Losses:dice"])
def test_resolve_dist_name(reg: Registry, ref: str) -> None:
    assert reg.resolve("loss", ref).qualname == "other-losses:dice"


def test_ambiguous_bare_name_names_every_provider(reg: Registry) -> None:
    with pytest.raises(AmbiguousComponentError) as info:
        reg.resolve("loss", "dice")
    msg = str(info.value)
    assert "acme-losses:dice" in msg and "other-losses:dice" in msg and "'dist:name'" in msg
    assert {c.dist for c in info.value.providers} == {"acme-losses", "other-losses"}


@pytest.mark.parametrize(
    ("ref", "version", "expected"),
    [("focal@>=1,<2", None, "1.4.0"), ("focal", ">=1.4", "1.4.0"), ("acme-losses:dice@==2.*", None, "2.0.0")],
)
def test_version_constraint_satisfied(reg: Registry, ref: str, version: str | None, expected: str) -> None:
    assert reg.resolve("loss", ref, version).version == expected


def test_version_constraint_not_satisfied(reg: Registry) -> None:
    with pytest.raises(ComponentVersionError, match=r"version 1.4.0, which does not satisfy '>=2'"):
        reg.resolve("loss", "focal@>=2")


def test_invalid_version_constraint(reg: Registry) -> None:
    with pytest.raises(ComponentVersionError, match="invalid version constraint 'about two'"):
        reg.resolve("loss", "focal@about two")


def test_invalid_reference() -> None:
    with pytest.raises(ComponentNotFoundError, match="expected 'name', 'dist:name'"):
        ComponentRef.parse("not a name!")


def test_parse_reference() -> None:
    assert ComponentRef.parse("acme:focal@>=1,<2") == ComponentRef("focal", "acme", ">=1,<2")


def test_deprecated_name_resolves_to_replacement_with_warning(reg: Registry) -> None:
    with pytest.warns(TorchrackDeprecationWarning, match="deprecated since 1.1; using its replacement 'focal'"):
        comp = reg.resolve("loss", "old_focal")
    assert comp.qualname == "acme-losses:focal"


def test_deprecated_without_replacement_still_resolves(reg: Registry) -> None:
    with pytest.warns(TorchrackDeprecationWarning, match="'acme-losses:legacy' is deprecated since 0.5"):
        assert reg.resolve("loss", "legacy").name == "legacy"


def test_unknown_name_suggests_close_names(reg: Registry) -> None:
    with pytest.raises(ComponentNotFoundError, match="did you mean 'focal'") as info:
        reg.resolve("loss", "focall")
    assert info.value.kind == "loss" and info.value.ref == "focall"


def test_name_of_another_kind_is_not_found(reg: Registry) -> None:
    with pytest.raises(ComponentNotFoundError, match="no metric named 'focal'"):
        reg.resolve("metric", "focal")


def test_import_on_first_use_only(reg: Registry) -> None:
    comp = reg.resolve("loss", "focal")
    assert "acme_losses.components" not in sys.modules, "resolve must not import"
    factory = reg.load(comp)
    assert "acme_losses.components" in sys.modules
    assert factory(scale=2.0).params == {"scale": 2.0}
    assert reg.load(comp) is factory
    assert reg.get("loss", "acme-losses:focal") is factory
    assert "acme_metrics" not in sys.modules, "loading one plugin imports no other"


def test_import_error_is_chained_and_marks_the_plugin_broken(
    site: FakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.add("acme-bad", code="import json\nraise RuntimeError('bad plugin: model file missing')\n")
    site.add("acme-good")
    monkeypatch.syspath_prepend(str(site.path))
    reg = Registry.discover(path=[str(site.path)])
    with pytest.raises(PluginImportError, match="failed to import") as info:
        reg.get("loss", "bad")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "model file missing" in str(info.value.__cause__)
    bad = reg.plugin("acme-bad")
    assert bad is not None and bad.verdict == "broken"
    assert bad.import_error is not None and "RuntimeError: bad plugin" in bad.import_error["chain"][0]
    assert reg.get("loss", "good")().params == {}, "the other plugins still load"
