"""The fast validity check (torchrack.contracts._fast) against jsonschema.

Soundness first: wherever the fast check decides (True or False), jsonschema agrees, on random
and mutated instances of every published schema and first-party params schema, and on random
schema-like objects against the metaschema. Then decisiveness: every first-party manifest, params
schema and example config is decided valid, so the common path never imports jsonschema; and the
problems of invalid inputs are exactly jsonschema's, as before.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torchrack.contracts import _fast, _metaschema
from torchrack.contracts._compiled import Unsupported, compile_schema
from torchrack.contracts._schemas import (
    SCHEMA_FILES,
    _compiled,
    _fast_registry,
    _metaschema_validator,
    _pointer,
    _validator,
    load_schema,
    params_with_defaults,
    validate,
    validate_params,
    validate_params_schema,
)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
MANIFEST_PATHS = sorted(ROOT.glob("plugins/*/src/*/torchrack-manifest.json"))
MANIFESTS = [json.loads(p.read_text(encoding="utf-8")) for p in MANIFEST_PATHS]
_FILES = [tomllib.loads(p.read_text(encoding="utf-8")) for p in sorted(ROOT.glob("examples/*.toml"))]
CONFIGS = [f for f in _FILES if "sweep" not in f]  # sweep files: a [sweep] table over a base
SWEEPS = [f["sweep"] for f in _FILES if "sweep" in f]
PARAMS_SCHEMAS = {
    f"{path.parts[-4]}:{name}": comp.get("params", {"type": "object"})
    for path, manifest in zip(MANIFEST_PATHS, MANIFESTS, strict=True)
    for name, comp in manifest["components"].items()
}
TENSOR_SPECS = [
    spec
    for manifest in MANIFESTS
    for comp in manifest["components"].values()
    for side in ("inputs", "outputs")
    for spec in comp.get(side, {}).values()
]
SHA = "0123456789abcdef" * 4
RUN_RECORDS = [{
    "schema_version": 1, "run_id": "20240101-000000-abcd", "name": "digits", "status": "completed",
    "error": None, "config": CONFIGS[0], "config_sha256": SHA,
    "components": [{
        "role": "model.backbone", "kind": "backbone", "name": "small_cnn", "version": "1.0.0",
        "distribution": "torchrack-backbones", "distribution_version": "0.1.0",
        "entry_point": "torchrack_backbones:SmallCNN", "files_sha256": SHA,
    }],
    "environment": {"python": "3.11.9", "torch": "2.4.0", "torchrack": "0.1.0", "cuda": None,
                    "platform": "linux", "git_commit": None, "world_size": 1},
    "seed": 0, "epochs": [{"epoch": 0, "metrics": {"accuracy": 0.9}}],
    "final_metrics": {"accuracy": 0.9},
    "evaluations": [{"split": "test", "metrics": {"accuracy": 0.9}, "checkpoint": None,
                     "source": "train", "time": 1.7e9}],
    "timings": {"started_at": 1.7e9, "ended_at": 1.7e9 + 60, "train_seconds": 55.5, "eval_seconds": 1},
    "checkpoint": "ckpt/epoch-0.pt", "checkpoint_epoch": 0,
}]
EVENTS = [
    {"schema_version": 1, "run_id": "r1", "seq": 0, "time": 1.7e9, "type": "run_start", "data": {}},
    {"schema_version": 1, "run_id": "r1", "seq": 3, "time": 1.7e9, "type": "epoch_end", "epoch": 0,
     "step": 10, "metrics": {"loss": 0.5, "confusion": [[1, 0], [0, 1]], "per_class": {"a": 1}}},
]
EXAMPLES: dict[str, list[Any]] = {
    "manifest": MANIFESTS,
    "tensor-spec": TENSOR_SPECS,
    "experiment-config": CONFIGS,
    "run-record": RUN_RECORDS,
    "event": EVENTS,
    "sweep": SWEEPS,
}


def _walk(node: Any) -> list[Any]:
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        out.append(n)
        if isinstance(n, dict):
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)
    return out


def _names_and_strings(*docs: Any) -> tuple[list[str], list[str]]:
    """Property names (to build objects jsonschema will look into) and the strings (enum values,
    names, versions) of ``docs``."""
    keys: set[str] = set()
    strings: set[str] = set()
    for doc in docs:
        for node in _walk(doc):
            if isinstance(node, dict):
                keys.update(node)
                for k in ("properties", "patternProperties"):
                    if isinstance(node.get(k), dict):
                        keys.update(node[k])
            elif isinstance(node, str):
                strings.add(node)
    return sorted(keys), sorted(strings)


ALL_KEYS, ALL_STRINGS = _names_and_strings(
    *(load_schema(n) for n in SCHEMA_FILES), *MANIFESTS, *CONFIGS, *RUN_RECORDS, *EVENTS
)
TRICKY_STRINGS = [
    "", "N", "K", "*", "...", "$w", "$widths[-1]", "$width*4", "$w**2", "$x//2", "1.0.0", "1.0rc1",
    "v1", "Bad-Name", "dist:name", "a:b:c", "ok_name", "x-y", ">=1,<2", "gpu", "float128", SHA,
    SHA[:-1] + "G", "é", "a\n", "1", "0", "true", "null", "a" * 201,
]

# -- strategies ---------------------------------------------------------------------------------

strings = st.one_of(
    st.sampled_from(TRICKY_STRINGS), st.sampled_from(ALL_STRINGS), st.text(max_size=6)
)
numbers = st.one_of(
    st.integers(min_value=-3, max_value=70),
    st.integers(),
    st.sampled_from([0.0, 1.0, -1.0, 0.5, 1.5, 64.0, 1e300, -0.0, 2**53 + 1.0, 10**400, -(10**400)]),
    st.floats(allow_nan=False, allow_infinity=False),
)
leaves = st.one_of(st.none(), st.booleans(), numbers, strings)
SCHEMA_NAMES = ["a", "b", "x", "name", "scale", "", "$id"]  # property names of random schemas
keys = st.one_of(st.sampled_from(ALL_KEYS), st.sampled_from(TRICKY_STRINGS + SCHEMA_NAMES),
                 st.text(max_size=4))
json_values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        value = value[p]
    return value


def _tweaks(node: Any, draw: Callable[..., Any]) -> list[Any]:
    """Values near ``node``: the same number as another type, a neighbour, a duplicate item."""
    if isinstance(node, bool):
        return [not node, int(node), str(node).lower()]
    if isinstance(node, (int, float)):
        out = [node + 1, node - 1, -node, 0, True, str(node)]
        if abs(node) < 1e300:
            out += [float(node), int(node), node * 0.5]
        return out
    if isinstance(node, str):
        return ["", node + "X", node.upper(), node[:-1], node * 2, " " + node, 1]
    if isinstance(node, list):
        extra = draw(json_values)
        return [[], node[:-1], node + node[:1], [*node, extra], [extra, *node], node[::-1], {}]
    if isinstance(node, dict):
        out: list[Any] = [{}, list(node.values())]
        for k in node:
            out.append({kk: vv for kk, vv in node.items() if kk != k})  # a key missing
            out.append({**node, k + "_": node[k]})  # an unknown key
        out.append({**node, draw(keys): draw(json_values)})
        return out
    return [0, "", False, [], {}]


def _mutate(value: Any, draw: Callable[..., Any]) -> Any:
    path = draw(st.sampled_from(_paths(value)))
    node = _get(value, path)
    new = draw(st.sampled_from(_tweaks(node, draw))) if draw(st.booleans()) else draw(json_values)
    if not path:
        return new
    parent = _get(value, path[:-1])
    if draw(st.integers(0, 4)) == 0:  # delete instead
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return value


@st.composite
def mutated(draw: Callable[..., Any], examples: list[Any]) -> Any:
    value = copy.deepcopy(draw(st.sampled_from(examples)))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        value = _mutate(value, draw)
    return value


def instances(examples: list[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(mutated(examples), mutated(examples), mutated(examples), json_values)


# Random schema-like objects, mostly well shaped, sometimes not.
_SCHEMA_KW = ["items", "contains", "additionalProperties", "propertyNames", "if", "then", "else",
              "not"]
_MAP_KW = ["properties", "$defs", "dependentSchemas", "definitions", "patternProperties"]
_ARRAY_KW = ["prefixItems", "allOf", "anyOf", "oneOf"]
_NUMBER_KW = ["maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "multipleOf"]
_COUNT_KW = ["maxLength", "minLength", "maxItems", "minItems", "maxContains", "minContains",
             "maxProperties", "minProperties"]
_OTHER_KW = ["type", "enum", "const", "required", "dependentRequired", "dependencies", "pattern",
             "uniqueItems", "deprecated", "readOnly", "writeOnly", "title", "description",
             "$comment", "format", "default", "examples", "$ref", "$id", "$schema", "$anchor",
             "contentEncoding", "unevaluatedProperties", "x-ui", "foo"]
KEYWORDS = _SCHEMA_KW + _MAP_KW + _ARRAY_KW + _NUMBER_KW + _COUNT_KW + _OTHER_KW
TYPE_NAMES = ["array", "boolean", "integer", "null", "number", "object", "string"]
REGEXES = ["^a", "[a-z]+$", "a{2}", "(?i)x", "\\d", "(", "*", "a|", "", "^[0-9a-f]{64}$", "[", "$"]
REFS = ["#", "#/$defs/a", "#/properties/x", "#/$defs/missing", "#foo", "urn:torchrack:schema:tensor-spec:1",
        "urn:torchrack:schema:manifest:1#/$defs/component", "other.json", "#/allOf/0"]
names = st.sampled_from(SCHEMA_NAMES)


def _keyword_value(kw: str, sub: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    if kw in _SCHEMA_KW or kw == "unevaluatedProperties":
        good: st.SearchStrategy[Any] = sub
    elif kw == "patternProperties":
        good = st.dictionaries(st.sampled_from(REGEXES), sub, max_size=3)
    elif kw in _MAP_KW:
        good = st.dictionaries(names, sub, max_size=3)
    elif kw in _ARRAY_KW:
        good = st.lists(sub, max_size=3)
    elif kw in _NUMBER_KW:
        good = st.one_of(numbers, st.sampled_from([0, 1, 2, 3, 0.5, 2.0, -1]))
    elif kw in _COUNT_KW:
        good = st.sampled_from([0, 1, 2, 3, 2.0, 2.5, -1, 64, 10**400])
    elif kw == "type":
        good = st.one_of(
            st.sampled_from(TYPE_NAMES),
            st.lists(st.sampled_from([*TYPE_NAMES, "foo"]), max_size=3),
        )
    elif kw in ("enum", "examples"):
        good = st.lists(json_values, max_size=4)
    elif kw in ("required",):
        good = st.lists(names, max_size=3)
    elif kw == "dependentRequired":
        good = st.dictionaries(names, st.lists(names, max_size=2), max_size=2)
    elif kw == "dependencies":
        good = st.dictionaries(names, st.one_of(sub, st.lists(names, max_size=2)), max_size=2)
    elif kw == "pattern":
        good = st.sampled_from(REGEXES)
    elif kw in ("uniqueItems", "deprecated", "readOnly", "writeOnly"):
        good = st.booleans()
    elif kw == "$ref":
        good = st.sampled_from(REFS)
    elif kw == "$schema":
        good = st.sampled_from([_fast.DRAFT_2020_12, "http://json-schema.org/draft-07/schema#"])
    else:
        good = json_values
    return st.one_of(good, good, good, json_values)


#: What the fast check interprets, and a few keywords it leaves to jsonschema.
INTERPRETED = sorted(set(_fast._KEYWORDS) | {"title", "default", "format", "x-ui", "$defs",
                                             "if", "$anchor", "foo"})


@st.composite
def schema_like(draw: Callable[..., Any], keywords: tuple[str, ...] = tuple(KEYWORDS),
                depth: int = 0) -> Any:
    if depth >= 3 or draw(st.integers(0, 4)) == 0:
        return draw(st.one_of(st.booleans(), st.just({}), leaves))
    sub = schema_like(keywords, depth + 1)
    chosen = draw(st.lists(st.sampled_from(keywords), max_size=5, unique=True))
    return {kw: draw(_keyword_value(kw, sub)) for kw in chosen}


# -- helpers -----------------------------------------------------------------------------------


def _problems(errors: Any) -> list[tuple[str, str]]:
    return [(_pointer(e.absolute_path), e.message)
            for e in sorted(errors, key=lambda e: list(map(str, e.path)))]


def _reference(name: str, instance: Any) -> list[tuple[str, str]]:
    """The problems as the jsonschema code of torchrack.contracts._schemas finds them."""
    return _problems(_validator(name).iter_errors(instance))


def fast_valid(schema: Any, instance: Any, registry: dict[str, Any]) -> bool | None:
    """_fast.is_valid, with an exception it did not foresee surfacing (is_valid turns one into
    None, undecided, so that production falls back to jsonschema)."""
    verdict = _fast._decide(schema, instance, registry)
    assert _fast.is_valid(schema, instance, registry) is verdict
    return verdict


def fast_valid_schema(schema: Any) -> bool | None:
    verdict = _metaschema._decide_params_schema(schema)
    assert _metaschema.is_valid_params_schema(schema) is verdict
    return verdict


def _agrees(fast: bool | None, errors: list[Any]) -> None:
    event(f"fast={fast}")
    if fast is not None:
        assert fast == (not errors), [e.message for e in errors]


PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- soundness ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES))
@PROPS
@given(data=st.data())
def test_fast_check_agrees_with_jsonschema_on_each_contract(name: str, data: st.DataObject) -> None:
    instance = data.draw(instances(EXAMPLES[name]))
    fast = fast_valid(load_schema(name), instance, _fast_registry())
    _agrees(fast, list(_validator(name).iter_errors(instance)))


class _Str(str):
    """A str subclass: jsonschema's type checks take it as a string, the compiled checks refuse."""


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES))
@PROPS
@given(data=st.data())
def test_compiled_check_agrees_with_jsonschema_on_each_contract(name: str, data: st.DataObject) -> None:
    """The compiled contract (torchrack.contracts._compiled) is sound as the interpreter is: on
    plain JSON it decides exactly as jsonschema; on anything else it may only say False/None."""
    check = _compiled(name)
    assert check is not None, f"{name} is no longer compiled (a keyword the compiler lacks?)"
    instance = data.draw(instances(EXAMPLES[name]))
    errors = list(_validator(name).iter_errors(instance))
    verdict = check(instance)
    _agrees(verdict, errors)
    # The interpreter, where it decides, never disagrees with the compiled check.
    fast = fast_valid(load_schema(name), instance, _fast_registry())
    if verdict is not None and fast is not None:
        assert verdict == fast


@pytest.mark.parametrize(
    ("name", "instance"),
    [(name, example) for name in sorted(SCHEMA_FILES) for example in EXAMPLES[name][:1]],
)
def test_compiled_check_refuses_what_is_not_plain_json(name: str, instance: Any) -> None:
    """Soundness beyond JSON: str subclasses, tuples, non-finite floats, non-string keys and
    cycles never come out True; valid plain JSON does."""
    check = _compiled(name)
    assert check is not None and check(instance) is True
    for path in _paths(instance)[1:]:
        leaf = _get(instance, path)
        for odd in ([_Str(leaf)] if type(leaf) is str else []) + (
            [tuple(leaf)] if type(leaf) is list else []
        ) + ([float("inf"), float("nan")] if type(leaf) in (int, float) else []):
            bent = copy.deepcopy(instance)
            parent = _get(bent, path[:-1])
            parent[path[-1]] = odd
            assert check(bent) is not True or not list(_validator(name).iter_errors(bent)), (
                name, path, odd)
    if type(instance) is dict:
        keyed = dict(instance)
        keyed[1] = "x"  # type: ignore[index]
        assert check(keyed) is not True
        cyclic = copy.deepcopy(instance)
        cyclic["self"] = cyclic
        assert check(cyclic) is not True


def test_compiled_check_refuses_subclasses_where_jsonschema_looks() -> None:
    check = compile_schema({"type": "string", "pattern": "^a"}, {})
    assert check("abc") is True and check(_Str("abc")) is False and check(_Str("xyz")) is False


def test_contracts_validate_through_the_compiled_check_without_jsonschema() -> None:
    """A cold scan's manifests and a config are validated by the compiled checks alone."""
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from torchrack.contracts._schemas import validate\n"
        f"for p in {[str(p) for p in MANIFEST_PATHS]!r}:\n"
        "    assert validate('manifest', json.loads(Path(p).read_text())) == []\n"
        "assert 'jsonschema' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "patternProperties": {"^a": {}}},
        {"not": {"type": "string"}},
        {"$ref": "https://example.com/elsewhere"},
        {"type": "custom"},
        {"minimum": float("nan")},
        {"pattern": "("},
        {"properties": {"a": {"$id": "urn:other"}}},
        {"$schema": "http://json-schema.org/draft-07/schema#"},
    ],
)
def test_compiler_leaves_what_it_does_not_translate_to_the_interpreter(schema: Any) -> None:
    with pytest.raises(Unsupported):
        compile_schema(schema, {})


@pytest.mark.parametrize(
    ("schema", "instance", "expected"),
    [
        ({"type": "integer"}, 1.0, True),
        ({"type": "integer"}, True, False),
        ({"const": 1}, 1.0, True),
        ({"const": 1}, True, False),
        ({"enum": ["a", "b"]}, "b", True),
        ({"enum": ["a", 1]}, 1.0, True),
        ({"enum": ["a"]}, ["a"], False),
        ({"properties": {"v": {"enum": [1, 2]}}}, {"v": 0}, False),  # inline: the value, not a loop name
        ({"properties": {"v": {"enum": [1, 2]}}}, {"v": 2.0}, True),
        ({"type": "array", "items": {"enum": [1, "a"]}}, [1, "a", 0], False),
        ({"propertyNames": {"enum": ["a", 1]}}, {"b": 1}, False),
        ({"type": "array", "uniqueItems": True}, ["a", "a"], False),
        ({"type": "array", "uniqueItems": True}, [1, True], None),  # jsonschema's own rule
        ({"type": "array", "uniqueItems": True}, [1, 1.0], False),
        ({"type": "array", "uniqueItems": True}, [0, 1, 2.5], True),
        ({"type": "object", "additionalProperties": False, "properties": {"a": {}}}, {"a": 1, "b": 2}, False),
        ({"type": "object", "required": ["a"]}, {}, False),
        ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"A": 1}, False),
        ({"anyOf": [{"type": "string"}, {"minimum": 3}]}, 2, False),
        ({"exclusiveMinimum": 0}, 0, False),
        ({"maxLength": 2}, "\U0001f600\U0001f600", True),  # code points, as jsonschema counts
        ({"minProperties": 1}, {}, False),
        ({"minimum": 0}, "not a number", True),
    ],
)
def test_compiled_check_semantics(schema: Any, instance: Any, expected: bool | None) -> None:
    assert compile_schema(schema, {})(instance) is expected
    if expected is not None:
        assert (not list(jsonschema.Draft202012Validator(schema).iter_errors(instance))) is expected


@pytest.mark.parametrize("key", sorted(PARAMS_SCHEMAS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_check_agrees_with_jsonschema_on_first_party_params(key: str, data: st.DataObject) -> None:
    schema = PARAMS_SCHEMAS[key]
    instance = data.draw(instances([params_with_defaults(schema, {}), {}]))
    _agrees(fast_valid(schema, instance, {}),
            list(jsonschema.Draft202012Validator(schema).iter_errors(instance)))


@PROPS
@given(schema=schema_like(tuple(INTERPRETED)), data=st.data())
def test_fast_check_agrees_with_jsonschema_on_random_schemas(schema: Any, data: st.DataObject) -> None:
    """Params schemas of third-party plugins are arbitrary: the interpreter itself is sound."""
    instance = data.draw(st.one_of(json_values, st.sampled_from([1, 1.0, True, "a", [1, 1.0], {}])))
    fast = fast_valid(schema, instance, {})
    if fast is not None:  # decided: jsonschema must neither disagree nor raise
        _agrees(fast, list(jsonschema.Draft202012Validator(schema).iter_errors(instance)))


@PROPS
@given(schema=st.one_of(schema_like(), mutated(list(PARAMS_SCHEMAS.values())), json_values))
def test_fast_schema_check_agrees_with_the_metaschema(schema: Any) -> None:
    fast = fast_valid_schema(schema)
    if fast is not None:
        _agrees(fast, list(_metaschema_validator().iter_errors(schema)))


@PROPS
@given(schema=st.one_of(schema_like(), mutated(list(PARAMS_SCHEMAS.values())), json_values))
def test_schema_check_of_parsed_json_skips_only_the_json_walk(schema: Any) -> None:
    """parsed_json=True (a manifest's params schema, straight from json.loads) answers exactly as
    the full check does, huge-exponent infinities included."""
    try:
        text = json.dumps(schema, allow_nan=False)
    except (TypeError, ValueError):
        return  # not JSON: json.loads could not have returned it
    huge = json.loads(text, parse_float=lambda f: float("inf") if float(f) == 1.5 else float(f))  # as 1e999
    for parsed in (json.loads(text), huge):
        full = _metaschema._decide_params_schema(parsed)
        quick = _metaschema._decide_params_schema(parsed, parsed_json=True)
        if full is not None:
            assert quick is full
        elif quick is not None:  # only the walk was undecided (an infinity): still jsonschema's answer
            _agrees(quick, list(_metaschema_validator().iter_errors(parsed)))


def test_every_metaschema_keyword_is_known_to_the_fast_schema_check() -> None:
    """Keywords unknown to the fast check pass unchecked, as the metaschema lets unknown ones."""
    from urllib.parse import urljoin

    from jsonschema_specifications import REGISTRY

    root = jsonschema.Draft202012Validator.META_SCHEMA
    metas = [root, *(REGISTRY.contents(urljoin(root["$id"], ref["$ref"])) for ref in root["allOf"])]
    keywords = {k for m in metas for k in m.get("properties", {})}
    assert len(keywords) > 50
    assert keywords <= _metaschema._META_KNOWN, keywords - _metaschema._META_KNOWN


RAISES = "raises"


@pytest.mark.parametrize(
    ("schema", "instance", "fast", "by_jsonschema"),
    [
        ({"type": "integer"}, 1.0, True, True),
        ({"type": "integer"}, 1.5, False, False),
        ({"type": "integer"}, True, False, False),
        ({"type": "number"}, False, False, False),
        ({"enum": [1, "a"]}, 1.0, True, True),
        ({"enum": [1]}, True, False, False),
        ({"const": [1, {"a": 0}]}, [1.0, {"a": 0.0}], True, True),
        ({"const": [1]}, [True], False, False),
        ({"uniqueItems": True}, [1, 1.0], False, False),
        ({"uniqueItems": True}, [1, True], True, True),
        ({"uniqueItems": True}, [{"a": 1}, {"a": True}], True, True),
        ({"minLength": 2}, "é", False, False),
        ({"maxLength": 1}, "é", True, True),
        ({"multipleOf": 3}, 9.0, True, True),
        ({"multipleOf": 3}, 10, False, False),
        ({"prefixItems": [{"type": "string"}], "items": False}, ["a"], True, True),
        ({"prefixItems": [{"type": "string"}], "items": False}, ["a", 1], False, False),
        ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"ab": 1, "Ab": 2}, False, False),
        ({"patternProperties": {"^x": {"type": "integer"}}, "additionalProperties": False},
         {"x1": 1}, True, True),
        ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1, False, False),
        ({"not": {"type": "string"}}, 1, True, True),
        ({"$defs": {"a": {"type": "string"}}, "$ref": "#/$defs/a"}, 1, False, False),
        ({"anyOf": [{"type": "integer"}, {"pattern": "("}]}, 1, True, True),  # stops at the first
        ({"allOf": [{"type": "string"}], "$ref": "#/allOf/0"}, 1, False, False),
        ({"uniqueItems": True}, list(range(100_000)), True, True),  # in linear time
        ({"uniqueItems": True}, [{"a": [1, {"b": True}]}, {"a": [1.0, {"b": True}]}], False, False),
        # Undecided: left to jsonschema (some of them where it departs from the spec).
        ({"type": "integer", "if": {}}, 1, None, True),  # a keyword not implemented
        ({"multipleOf": 0.5}, 1.5, True, True),
        ({"multipleOf": 0.1}, 0.3, False, False),  # as jsonschema divides: 2.9999999999999996
        ({"multipleOf": 1e-300}, 1e300, None, False),  # jsonschema: exact fractions
        ({"multipleOf": 10**400}, 1.5, None, RAISES),
        ({"uniqueItems": True}, [[1], [True], [1]], None, True),  # jsonschema misses duplicates
        ({"patternProperties": {"": {}}, "additionalProperties": False}, {"a": 1}, None, False),
        ({"pattern": "("}, "a", None, RAISES),
        # jsonschema's "not" stops at the first error, so whether it raises depends on the order of
        # the keywords: undecided both ways (this module has no short cuts).
        ({"not": {"type": "integer", "pattern": "("}}, "a", None, True),
        ({"not": {"pattern": "(", "type": "integer"}}, "a", None, RAISES),
        ({"anyOf": [{"pattern": "("}, {"type": "string"}]}, "a", None, RAISES),
        ({"type": ["string", "foo"]}, 1, None, RAISES),
        ({"$ref": "#/$defs/missing"}, 1, None, RAISES),
        ({"$ref": "urn:elsewhere"}, 1, None, RAISES),
        ({"allOf": [{}], "$ref": "#/allOf/\u00b2"}, 1, None, RAISES),  # "²".isdigit()
        ({"$defs": {"a": {"$id": "urn:a", "type": "string"}}, "$ref": "#/$defs/a"}, 1, None, False),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, 1, None, True),
        ({"$ref": "#"}, 1, None, RAISES),  # endless
        ({"type": "array"}, (1, 2), None, False),  # not JSON data
        ({"minimum": 0}, float("nan"), None, True),
    ],
)
def test_fast_check_semantics(schema: Any, instance: Any, fast: bool | None, by_jsonschema: Any) -> None:
    assert fast_valid(schema, instance, {}) is fast
    validator = jsonschema.Draft202012Validator(schema)
    if by_jsonschema == RAISES:
        with pytest.raises(Exception):  # noqa: B017, PT011
            list(validator.iter_errors(instance))
    else:
        assert (not list(validator.iter_errors(instance))) is by_jsonschema


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (True, True),
        ({"type": ["integer", "null"], "minimum": 1, "default": None}, True),
        ({"type": "number", "multipleOf": 0}, False),
        ({"type": ["string", "string"]}, False),
        ({"type": []}, False),
        ({"minLength": 2.0, "maxLength": 2.5}, False),
        ({"pattern": "("}, False),
        ({"patternProperties": {"(": {}}}, False),
        ({"properties": {"a": 5}}, False),
        ({"anyOf": []}, False),
        ({"required": ["a", "a"]}, False),
        ({"x-anything": {"type": 5}, "foo": [1]}, True),
        ({"format": "email"}, True),
        ({"$ref": "#/$defs/a"}, None),  # a uri-reference format: optional libraries
        ({"properties": {"a": {"$id": "urn:x"}}}, None),
        ({"contentMediaType": "application/json"}, None),
        (1, False),
    ],
)
def test_fast_schema_check_semantics(schema: Any, expected: bool | None) -> None:
    assert fast_valid_schema(schema) is expected
    if expected is not None:
        assert (not list(_metaschema_validator().iter_errors(schema))) == expected


# -- decisiveness -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", MANIFEST_PATHS, ids=lambda p: p.parts[-4])
def test_first_party_manifests_are_decided_valid(path: Path) -> None:
    manifest = json.loads(path.read_text(encoding="utf-8"))
    assert _fast.is_valid(load_schema("manifest"), manifest, _fast_registry()) is True
    for comp in manifest["components"].values():
        schema = comp.get("params", {"type": "object"})
        assert _metaschema.is_valid_params_schema(schema) is True
        assert not list(_metaschema_validator().iter_errors(schema))
        for spec in [*comp.get("inputs", {}).values(), *comp.get("outputs", {}).values()]:
            assert _fast.is_valid(load_schema("tensor-spec"), spec, _fast_registry()) is True


def test_example_configs_and_records_are_decided_valid() -> None:
    assert len(CONFIGS) >= 1 and (ROOT / "examples" / "digits.toml").is_file()
    assert SWEEPS, "examples/ablation.toml is a sweep file"
    for name in ("experiment-config", "run-record", "event", "sweep"):
        for instance in EXAMPLES[name]:
            assert _reference(name, instance) == []
            if name != "sweep":  # sweep files are read by torchrack-runs, with jsonschema
                assert _fast.is_valid(load_schema(name), instance, _fast_registry()) is True


@pytest.mark.parametrize("key", sorted(PARAMS_SCHEMAS))
def test_first_party_params_with_all_required_are_decided(key: str) -> None:
    schema = PARAMS_SCHEMAS[key]
    params = params_with_defaults(schema, {})
    for req in schema.get("required", []):
        params.setdefault(req, "x")
    expected = not list(jsonschema.Draft202012Validator(schema).iter_errors(params))
    assert _fast.is_valid(schema, params, {}) is expected


def test_fast_check_decides_most_mutations() -> None:
    """Not vacuous: most mutated manifests are decided, both ways."""
    verdicts: list[bool | None] = []

    @settings(max_examples=150, deadline=None, database=None)
    @given(instance=mutated(MANIFESTS))
    def collect(instance: Any) -> None:
        verdicts.append(_fast.is_valid(load_schema("manifest"), instance, _fast_registry()))

    collect()
    assert verdicts.count(True) >= 10 and verdicts.count(False) >= 50
    assert verdicts.count(None) <= len(verdicts) // 5


# -- the same problems, and no jsonschema on the common path ------------------------------------

BAD_MANIFEST_PATCHES: list[dict[str, Any]] = [
    {"manifest_version": 2},
    {"components": {"Bad-Name": {"kind": "loss", "version": "1", "summary": "s"}}},
    {"components": {"x": {"kind": "compiler", "version": "1.0", "summary": "s"}}},
    {"components": {"x": {"kind": "loss", "version": "1", "summary": "s",
                          "inputs": {"a": {"shape": ["N", "$w**2"]}}, "devices": ["gpu", "gpu"]}}},
    {"extra": 1, "api": ""},
    {"components": {"x": {"kind": "loss", "version": "1", "summary": "s", "params": []}}},
]


@pytest.mark.parametrize("patch", BAD_MANIFEST_PATCHES)
def test_invalid_manifests_get_jsonschemas_problems(patch: dict[str, Any]) -> None:
    manifest = {**MANIFESTS[0], **patch}
    assert _fast.is_valid(load_schema("manifest"), manifest, _fast_registry()) is not True
    problems = [(p.pointer, p.message) for p in validate("manifest", manifest)]
    assert problems and problems == _reference("manifest", manifest)


def test_invalid_params_and_params_schemas_get_jsonschemas_problems() -> None:
    schema = PARAMS_SCHEMAS["torchrack-backbones:mlp"]
    params = {"widths": [], "height": 0.5, "extra": True}
    want = _problems(jsonschema.Draft202012Validator(schema).iter_errors(params))
    assert want and [(p.pointer, p.message) for p in validate_params(schema, params)] == want
    bad_schema = {"type": "object", "properties": {"a": {"type": "integer", "minimum": "1"}}}
    want = [(_pointer(e.absolute_path), e.message)
            for e in _metaschema_validator().iter_errors(bad_schema)][:1]
    assert want and [(p.pointer, p.message) for p in validate_params_schema(bad_schema)] == want


FRESH = """
import json, sys
from torchrack.contracts import validate, validate_params, validate_params_schema
from torchrack.contracts._schemas import params_with_defaults
manifest = json.loads(open(sys.argv[1], encoding="utf-8").read())
out = {"valid": [str(p) for p in validate("manifest", manifest)]}
for comp in manifest["components"].values():
    schema = comp.get("params", {"type": "object"})
    out["valid"] += [str(p) for p in validate_params_schema(schema)]
    if not schema.get("required"):
        out["valid"] += [str(p) for p in validate_params(schema, params_with_defaults(schema, {}))]
out["imported_when_valid"] = "jsonschema" in sys.modules
bad = json.loads(sys.argv[2])
out["invalid"] = [[p.pointer, p.message] for p in validate("manifest", bad)]
out["imported_when_invalid"] = "jsonschema" in sys.modules
print(json.dumps(out))
"""


def test_a_fresh_interpreter_validates_valid_manifests_without_jsonschema() -> None:
    path = next(p for p in MANIFEST_PATHS if "backbones" in str(p))
    bad = {**MANIFESTS[0], **BAD_MANIFEST_PATCHES[3]}
    proc = subprocess.run(
        [sys.executable, "-c", FRESH, str(path), json.dumps(bad)],
        capture_output=True, text=True, check=True, timeout=120,
    )
    out = json.loads(proc.stdout)
    assert out["valid"] == []
    assert out["imported_when_valid"] is False
    assert [tuple(p) for p in out["invalid"]] == _reference("manifest", bad) != []
    assert out["imported_when_invalid"] is True
