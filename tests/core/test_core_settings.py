"""Allow and deny lists: every source, applied before any import."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fakedist import FakeSite, component
from torchrack import ComponentNotFoundError, Registry, TorchrackError, load_settings

pytestmark = pytest.mark.usefixtures("isolated")


def two_plugins(site: FakeSite) -> None:
    site.add("acme-losses", components={"focal": component("loss"), "dice": component("loss")})
    site.add("other-losses", components={"huber": component("loss")})


def verdicts(reg: Registry) -> dict[str, str]:
    return {p.canonical_name: p.verdict for p in reg.plugins}


@pytest.mark.parametrize(
    ("where", "text", "source"),
    [
        ("env", "acme_losses", "TORCHRACK_DENY"),
        ("torchrack.toml", 'deny = ["acme-losses"]\n', "torchrack.toml"),
        ("pyproject.toml", '[tool.torchrack]\ndeny = ["Acme.Losses"]\n', "[tool.torchrack]"),
    ],
    ids=["env", "torchrack-toml", "pyproject"],
)
def test_deny_a_distribution(
    site: FakeSite, monkeypatch: pytest.MonkeyPatch, where: str, text: str, source: str
) -> None:
    two_plugins(site)
    if where == "env":
        monkeypatch.setenv("TORCHRACK_DENY", text)
    else:
        (Path.cwd() / where).write_text(text)
    reg = Registry.discover(path=[str(site.path)])
    assert verdicts(reg) == {"acme-losses": "denied", "other-losses": "ok"}
    denied = reg.plugin("acme-losses")
    assert denied is not None and source in denied.reasons[0], denied.reasons
    assert [c.name for c in reg.components()] == ["huber"]
    with pytest.raises(ComponentNotFoundError, match="acme-losses 1.0.0 provides it but is denied"):
        reg.resolve("loss", "focal")
    assert "acme_losses" not in sys.modules


def test_allow_list_denies_everything_else(site: FakeSite, monkeypatch: pytest.MonkeyPatch) -> None:
    two_plugins(site)
    monkeypatch.setenv("TORCHRACK_ALLOW", "other-losses")
    reg = Registry.discover(path=[str(site.path)])
    assert verdicts(reg) == {"acme-losses": "denied", "other-losses": "ok"}
    p = reg.plugin("acme-losses")
    assert p is not None and "not in the allow list" in p.reasons[0]


def test_deny_one_component_keeps_the_rest_of_its_distribution(
    site: FakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_plugins(site)
    monkeypatch.setenv("TORCHRACK_DENY", "acme-losses:focal")
    reg = Registry.discover(path=[str(site.path)])
    assert verdicts(reg)["acme-losses"] == "ok"
    assert reg.resolve("loss", "dice").qualname == "acme-losses:dice"
    focal = next(c for c in reg.components("loss") if c.name == "focal")
    assert focal.denied and "acme-losses:focal" in focal.denied
    with pytest.raises(ComponentNotFoundError, match="acme-losses:focal is denied"):
        reg.resolve("loss", "focal")
    with pytest.raises(TorchrackError, match="will not be imported"):
        reg.load(focal)
    assert "acme_losses" not in sys.modules


def test_allow_one_component(site: FakeSite, monkeypatch: pytest.MonkeyPatch) -> None:
    two_plugins(site)
    monkeypatch.setenv("TORCHRACK_ALLOW", "acme-losses:dice")
    reg = Registry.discover(path=[str(site.path)])
    assert verdicts(reg) == {"acme-losses": "ok", "other-losses": "denied"}
    assert [c.name for c in reg.components() if not c.denied] == ["dice"]


def test_later_sources_replace_earlier_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("pyproject.toml").write_text('[tool.torchrack]\ndeny = ["a"]\nallow = ["b"]\n')
    Path("torchrack.toml").write_text('deny = ["c"]\n')
    monkeypatch.setenv("TORCHRACK_ALLOW", "d, e")
    s = load_settings()
    assert [str(r) for r in s.deny] == ["c"]
    assert [str(r) for r in s.allow] == ["d", "e"]
    assert s.denial("c") is not None and s.denial("d") is None and s.denial("b") is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('deny = "not-a-list-of-strings" \nallow = [1]\n', "expected a list of strings"),
        ("deny = [\n", "cannot read settings"),
        ('deny = ["acme:"]\n', "expected 'dist' or 'dist:name'"),
    ],
)
def test_invalid_settings_name_the_file(text: str, expected: str) -> None:
    Path("torchrack.toml").write_text(text)
    with pytest.raises(TorchrackError, match=expected) as info:
        load_settings()
    assert "torchrack.toml" in str(info.value)
