"""Bad input never escapes as anything but torchrack's own errors, each with a useful message.

Property tests (hypothesis) throw arbitrary TOML/JSON, config trees and manifests at the parsers
and validators; a corpus of malformed configs and manifests pins the message each must give.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torchrack import Registry, TorchrackError
from torchrack.plugins._discovery import DistFacts, EntryPointFact, _read_manifest
from torchrack.plugins._trust import Settings
from torchrack.plugins._vetting import Environment, vet
from torchrack_runs._config import apply_overrides, read_config, resolve_config

from ._plugins import DIGITS

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(string.ascii_lowercase + "_", max_size=10), inner, max_size=4)),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(Settings(), use_cache=False)


def _digits() -> dict[str, Any]:
    return read_config(DIGITS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_any_text_as_a_config_file_gives_a_config_error(tmp_path_factory: pytest.TempPathFactory,
                                                        text: str) -> None:
    for suffix in (".toml", ".json"):
        path = tmp_path_factory.mktemp("cfg") / f"c{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            read_config(path)
        except TorchrackError as exc:
            assert str(path) in str(exc)


@settings(max_examples=200, deadline=None)
@given(tree=json_values)
def test_any_tree_as_a_config_gives_only_torchrack_errors(registry: Registry, tree: Any) -> None:
    try:
        resolve_config(tree, registry, "fuzz.toml")  # type: ignore[arg-type]
    except TorchrackError as exc:
        assert "fuzz.toml" in str(exc)


_KEYS = ["run.epochs", "run.seed", "run.name", "data.batch_size", "data.dataset.name",
         "model.backbone.name", "model.backbone.params.widths", "model.backbone.params.in_channels",
         "model.head.params.in_features", "model.head.version", "loss.name",
         "loss.params.label_smoothing", "optimizer.name", "optimizer.params.lr", "scheduler.name",
         "augment.0.params.max_shift", "metrics.0.name", "schema_version"]
_VALUES = ["0", "-1", "1.5", "true", '"x"', '"small_cnn"', "[1, 2]", "[]", "{}", '">=9"',
           '"dist:name"', "99999999999"]


@settings(max_examples=200, deadline=None)
@given(changes=st.lists(st.tuples(st.sampled_from(_KEYS), st.sampled_from(_VALUES)), min_size=1, max_size=4))
def test_mutated_demo_configs_fail_only_with_pointed_errors(registry: Registry,
                                                            changes: list[tuple[str, str]]) -> None:
    try:
        config = apply_overrides(_digits(), [f"{k}={v}" for k, v in changes])
        resolve_config(config, registry, "mutated.toml")
    except TorchrackError as exc:
        problems = getattr(exc, "problems", [str(exc)])
        assert problems and all(p.strip() for p in problems)


def _facts(manifest: Any, path: Path) -> DistFacts:
    path.write_text(json.dumps(manifest))
    data, problems = _read_manifest(str(path))
    return DistFacts(name="fuzz-plugin", version="1.0", location=str(path.parent),
                     requires=["torchrack>=0.1"],
                     entry_points=[EntryPointFact("torchrack.losses", "focal", "fuzz:Focal")],
                     manifest_path=str(path), manifest=data, manifest_problems=problems)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manifest=json_values)
def test_any_manifest_gets_a_verdict_and_never_raises(tmp_path: Path, manifest: Any) -> None:
    info = vet(_facts(manifest, tmp_path / "m.json"), Environment(torch="2.13.0"), Settings())
    assert info.verdict in ("ok", "incompatible", "broken")
    if info.verdict != "ok":
        assert info.reasons


_GOOD_COMPONENT = {"kind": "loss", "version": "1.0.0", "summary": "s"}
MANIFEST_CORPUS = [
    ({"api": ">=1", "components": {}}, "'manifest_version' is a required property"),
    ({"manifest_version": 1, "api": ">=1", "components": {"Focal": _GOOD_COMPONENT}},
     "/components: 'Focal' does not match"),
    ({"manifest_version": 1, "api": ">=1", "components": {"focal": {**_GOOD_COMPONENT, "kind": "lose"}}},
     "/components/focal/kind: 'lose' is not one of"),
    ({"manifest_version": 1, "api": ">=1", "components": {"focal": {"kind": "loss", "version": "1"}}},
     "'summary' is a required property"),
    ({"manifest_version": 1, "api": "not a spec", "components": {"focal": _GOOD_COMPONENT}},
     "/api: 'not a spec' is not a PEP 440 specifier"),
    ({"manifest_version": 1, "api": ">=2", "components": {"focal": _GOOD_COMPONENT}},
     "supports hook API >=2 but torchrack"),
    ({"manifest_version": 1, "api": ">=1", "components": {"focal": {
        **_GOOD_COMPONENT, "inputs": {"x": {"shape": ["N", "$"]}}}}},
     "/components/focal/inputs/x/shape/1"),
    ({"manifest_version": 1, "api": ">=1", "components": {"focal": {
        **_GOOD_COMPONENT, "params": {"type": "objekt"}}}},
     "params schema of 'focal' is invalid"),
]


@pytest.mark.parametrize(("manifest", "message"), MANIFEST_CORPUS)
def test_malformed_manifests_give_their_message(tmp_path: Path, manifest: Any, message: str) -> None:
    info = vet(_facts(manifest, tmp_path / "m.json"), Environment(torch="2.13.0"), Settings())
    assert info.verdict in ("broken", "incompatible")
    assert any(message in r for r in info.reasons), info.reasons


def test_unparseable_manifest_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text('{"manifest_version": 1,\n  "api": }')
    data, problems = _read_manifest(str(path))
    assert data is None and "not valid JSON" in problems[0] and "line 2" in problems[0]


CONFIG_CORPUS = [
    ("schema_version = 1\n", "/: missing key 'run'"),
    ("schema_version = 2\n[run]\nname='x'\n", "/schema_version: expected 1, found 2"),
    ("schema_version = 1\n[run\n", "invalid TOML"),
    ('schema_version = 1\nsurprise = 3\n[run]\nname = "x"\n', "/: unknown key 'surprise'"),
    ('schema_version = 1\n[run]\nname = "x"\nepochs = "ten"\n', "/run/epochs: expected an integer, found 'ten' (a string)"),
    ('schema_version = 1\n[run]\nname = "x"\n[data]\ndataset = { name = "../etc/passwd" }\n',
     "/data/dataset/name: expected a component name"),
    ('schema_version = 1\n[run]\nname = "x"\n[data]\ndataset = { name = "os:system" }\n',
     "/: missing key 'model'"),
]


@pytest.mark.parametrize(("text", "message"), CONFIG_CORPUS)
def test_malformed_configs_give_their_message(tmp_path: Path, registry: Registry, text: str,
                                              message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(TorchrackError) as err:
        resolve_config(read_config(path), registry, str(path))
    assert message in str(err.value)


def test_an_import_path_in_a_config_is_never_imported(registry: Registry) -> None:
    config = apply_overrides(_digits(), ['loss.name="os:system"'])
    with pytest.raises(TorchrackError) as err:
        resolve_config(config, registry, "x.toml")
    assert "/loss/name" in str(err.value)
