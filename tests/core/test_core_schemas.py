"""The published JSON Schemas: valid Draft 2020-12, versioned ids, usable for validation."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from fakedist import component
from torchrack import load_schema, validate
from torchrack.contracts._schemas import (
    SCHEMA_FILES,
    UnknownSchemaError,
    params_with_defaults,
    schema_text,
    validate_params,
    validate_params_schema,
)

NAMES = ["manifest", "tensor-spec", "experiment-config", "run-record", "event", "sweep"]


def test_the_published_schemas() -> None:
    assert sorted(SCHEMA_FILES) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_draft_2020_12_with_versioned_id(name: str) -> None:
    schema = load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"urn:torchrack:schema:{name}:1"
    assert json.loads(schema_text(name)) == schema


def test_unknown_schema_names_the_choices() -> None:
    with pytest.raises(UnknownSchemaError, match="unknown schema 'manifests'; expected one of: event"):
        load_schema("manifests")


def test_manifest_example_from_the_plugin_contract_validates() -> None:
    manifest = {
        "manifest_version": 1,
        "api": ">=1,<2",
        "components": {
            "focal": component(
                "loss",
                inputs={"logits": {"shape": ["N", "K"], "dtype": "floating"},
                        "targets": {"shape": ["N", "..."], "dtype": ["int64", "floating"]}},
                outputs={"loss": {"shape": [], "dtype": "floating"}},
                devices=["cpu", "cuda", "meta"],
                deprecated={"since": "1.2", "replaced_by": "focal2"},
            )
        },
        "hooks": {"tracker": {"summary": "logs metrics"}},
    }
    assert validate("manifest", manifest) == []


@pytest.mark.parametrize(
    ("patch", "pointer"),
    [
        ({"manifest_version": 2}, "/manifest_version"),
        ({"components": {"Bad-Name": component()}}, "/components"),
        ({"components": {"x": component("sampler")}}, "/components/x/kind"),
        ({"components": {"x": component(inputs={"a": {"shape": ["N", "$w**2"]}})}}, "/components/x/inputs/a/shape/1"),
        ({"components": {"x": component(devices=["gpu"])}}, "/components/x/devices/0"),
        ({"extra": 1}, "/"),
    ],
)
def test_manifest_problems_carry_json_pointers(patch: dict[str, Any], pointer: str) -> None:
    manifest = {"manifest_version": 1, "api": ">=1", "components": {}, **patch}
    problems = validate("manifest", manifest)
    assert problems, "expected the manifest to be rejected"
    assert any(str(p).startswith(pointer) for p in problems), [str(p) for p in problems]


def test_params_helpers() -> None:
    schema = component()["params"]
    assert validate_params_schema(schema) == []
    assert validate_params_schema({"type": 5})
    assert params_with_defaults(schema, {}) == {"scale": 1.0}
    assert params_with_defaults(schema, {"scale": 2}) == {"scale": 2}
    assert validate_params(schema, {"scale": 2.0}) == []
    (problem,) = validate_params(schema, {"scael": 2.0})
    assert "scael" in problem.message
