"""Careless and hostile configs and ``--set`` values: each gives one clear message.

A message names the file (or ``--set KEY=VALUE``), the JSON pointer, the line of the file when the
value is in it, what was expected, what was found and the fix; it is never a traceback, a
RecursionError or an "internal error", and nothing is recorded in a run store. The classes:

1. unknown keys and typos (top level, tables, component params), and jsonschema's other messages
   in plain sentences;
2. ``--set``: both key forms (``augment[0].p`` as ``runs show`` prints it, ``augment.0.p``), bad
   paths, and problems attributed to the override that gave the value;
3. NaN/infinity, integers beyond 64 bits, deep nesting and 5000-digit integers, in TOML, JSON and
   ``--set``;
4. a component's exception shown without torch's C++ stack frames.
"""

from __future__ import annotations

import json
import math
import shlex
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torchrack import Registry
from torchrack_runs._config import ConfigError, apply_overrides, load_and_resolve, read_config, resolve_config
from torchrack_runs._values import INT64_MAX, INT64_MIN, MAX_DEPTH, check_values, key_lines

from ._cli import DIGITS, torchrack

DIGITS_TEXT = DIGITS.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(use_cache=False)


def _edit(old: str, new: str, text: str = DIGITS_TEXT) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _line_of(text: str, marker: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if marker in line)


def _error(registry: Registry, path: Path, overrides: list[str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_and_resolve(path, registry, overrides)
    _assert_clean(str(err.value))
    return err.value


def _assert_clean(message: str) -> None:
    for bad in ("Traceback", "internal error", "RecursionError", "Exceeds the limit",
                "Additional properties are not allowed", "is not of type", "is a required property"):
        assert bad not in message, message
    assert len(message) < 10_000, message  # at most MAX_PROBLEMS lines, each shortened


def _problem(err: ConfigError, needle: str) -> str:
    found = [p for p in err.problems if needle in p]
    assert found, (needle, err.problems)
    return found[0]


def _write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- class 1: unknown keys, typos, plain sentences -------------------------------------------------

#: (old text, new text, expected problem, text on the line the problem must name)
TOML_TYPOS = [
    pytest.param("[optimizer]", "[optimiser]",
                 "/: unknown key 'optimiser' (did you mean 'optimizer'?)", "[optimiser]", id="table-header"),
    pytest.param('[optimizer]\nname = "sgd"', '[optimizer]\nname = "sgd"\n["optimiser"]\nname = "sgd"',
                 "/: unknown key 'optimiser' (did you mean 'optimizer'?)", '["optimiser"]',
                 id="quoted-header"),
    pytest.param("schema_version = 1\n", 'schema_version = 1\noptimiser.name = "sgd"\n',
                 "/: unknown key 'optimiser' (did you mean 'optimizer'?)", "optimiser.name", id="dotted-key"),
    pytest.param("schema_version = 1\n", "schema_version = 1\nmetrcs = []\n",
                 "/: unknown key 'metrcs' (did you mean 'metrics'?)", "metrcs =", id="top-key"),
    pytest.param("[[metrics]]\nname = \"accuracy\"", "[[metric]]\nname = \"accuracy\"",
                 "/: unknown key 'metric' (did you mean 'metrics'?)", "[[metric]]", id="array-of-tables"),
    pytest.param("schema_version = 1\n", "schema_version = 1\nseed = 3\n",
                 "/: unknown key 'seed' (did you mean 'run.seed'?)", "seed = 3", id="misplaced-top"),
    pytest.param("epochs = 12", "epoch = 12",
                 "/run: unknown key 'epoch' (did you mean 'epochs'?); known keys: name, seed, epochs",
                 "epoch = 12", id="in-table"),
    pytest.param("batch_size = 32", "batch_size = 32\n\n[data.datset]\nname = \"x\"",
                 "/data: unknown key 'datset' (did you mean 'dataset'?)", "[data.datset]", id="sub-table"),
    pytest.param('dataset = { name = "digits" }', 'dataset = { name = "digits", parms = {} }',
                 "/data/dataset: unknown key 'parms' (did you mean 'params'?); known keys: name, version, params",
                 "parms", id="inline-table"),
    pytest.param("max_shift = 1", "max_shfit = 1",
                 "/augment/0/params: unknown param 'max_shfit' of augmentation "
                 "torchrack-augment:random_translate (did you mean 'max_shift'?); known params: "
                 "max_shift, padding_mode, fill, seed", "max_shfit", id="params-inline"),
    pytest.param('name = "random_translate"', 'name = "random_translate"\nmax_shift = 2',
                 "/augment/0: unknown key 'max_shift' (did you mean 'params.max_shift'?)",
                 "max_shift = 2", id="param-next-to-name"),
    pytest.param("widths = [32, 64]", "width = [32, 64]",
                 "/model/backbone/params: unknown param 'width' of backbone "
                 "torchrack-backbones:small_cnn (did you mean 'widths'?)", "width = [32, 64]",
                 id="params-nested-inline"),
    pytest.param("params = { label_smoothing = 0.05 }", "params.label_smothing = 0.05",
                 "/loss/params: unknown param 'label_smothing' of loss torchrack-losses:cross_entropy "
                 "(did you mean 'label_smoothing'?)", "label_smothing", id="params-dotted"),
    pytest.param("nesterov = true", "nestrov = true",
                 "/optimizer/params: unknown param 'nestrov' of optimizer torchrack-optim:sgd (did you mean "
                 "'nesterov'?); known params: lr, momentum, nesterov, weight_decay", "nestrov",
                 id="optimizer-params"),
    pytest.param('[scheduler]\nname = "cosine"', '[scheduler]\nname = "cosine"\n[scheduler.params]\nT_maxx = 3',
                 "/scheduler/params: unknown param 'T_maxx' of scheduler torchrack-optim:cosine (did you "
                 "mean 'T_max'?)",
                 "T_maxx", id="scheduler-params-table"),
    pytest.param('[[metrics]]\nname = "nll"', '[[metrics]]\nname = "nll"\nparams = { bins = 3 }',
                 "/metrics/1/params: unknown param 'bins' of metric torchrack-metrics:nll; it takes no params",
                 "bins = 3", id="no-params"),
]


@pytest.mark.parametrize(("old", "new", "expected", "marker"), TOML_TYPOS)
def test_toml_typos_name_the_key_the_fix_and_the_line(tmp_path: Path, registry: Registry, old: str,
                                                      new: str, expected: str, marker: str) -> None:
    text = _edit(old, new)
    path = _write(tmp_path, text)
    err = _error(registry, path)
    assert err.source == str(path) and str(path) in str(err)
    problem = _problem(err, expected)
    assert problem.endswith(f"(line {_line_of(text, marker)})"), problem


@pytest.mark.parametrize(("old", "new", "expected", "marker"), [
    ('"optimizer": {', '"optimiser": {', "/: unknown key 'optimiser' (did you mean 'optimizer'?)", '"optimiser"'),
    ('"max_shift": 1', '"max_shfit": 1', "/augment/0/params: unknown param 'max_shfit' of augmentation "
     "torchrack-augment:random_translate (did you mean 'max_shift'?)", '"max_shfit"'),
    ('"epochs": 12', '"epoch": 12', "/run: unknown key 'epoch' (did you mean 'epochs'?)", '"epoch"'),
])
def test_json_typos_name_the_line_too(tmp_path: Path, registry: Registry, old: str, new: str,
                                      expected: str, marker: str) -> None:
    text = _edit(old, new, json.dumps(read_config(DIGITS), indent=2))
    err = _error(registry, _write(tmp_path, text, "c.json"))
    assert _problem(err, expected).endswith(f"(line {_line_of(text, marker)})")


def test_without_the_text_the_line_is_left_out(registry: Registry) -> None:
    config = read_config(DIGITS)
    config["optimiser"] = config.pop("optimizer")
    with pytest.raises(ConfigError) as err:
        resolve_config(config, registry, "mem.toml")
    assert err.value.problems == [
        "/: unknown key 'optimiser' (did you mean 'optimizer'?); known keys: schema_version, run, "
        "data, train, augment, model, loss, optimizer, scheduler, accelerator, evaluate, alerts, metrics, "
        "trackers"]


#: jsonschema's other messages, as plain sentences: (old, new, expected problem)
PLAIN_SENTENCES = [
    pytest.param("epochs = 12", 'epochs = "ten"', "/run/epochs: expected an integer, found 'ten' (a string)",
                 id="type"),
    pytest.param("epochs = 12", 'epochs = "12"',
                 "/run/epochs: expected an integer, found '12' (a string) (write it without quotes: 12)",
                 id="type-quoted-number"),
    pytest.param("epochs = 12", "epochs = 1.5", "/run/epochs: expected an integer, found 1.5 (a float)",
                 id="type-float"),
    pytest.param("[run]", "[run]\ndeterministic = 1", "/run/deterministic: expected a boolean (true or false), "
                 "found 1 (an integer)", id="type-bool"),
    pytest.param("epochs = 12", "epochs = 0", "/run/epochs: expected an integer >= 1, found 0", id="minimum"),
    pytest.param("label_smoothing = 0.05", "label_smoothing = 1.5",
                 "/loss/params/label_smoothing: expected a number <= 1, found 1.5 (loss "
                 "torchrack-losses:cross_entropy 1.0.0; see `torchrack info torchrack-losses:cross_entropy`)",
                 id="maximum"),
    pytest.param("max_shift = 1", 'max_shift = 1, padding_mode = "reflct"',
                 "/augment/0/params/padding_mode: expected one of 'zeros', 'reflect', found 'reflct' "
                 "(a string) (did you mean 'reflect'?)", id="enum"),
    pytest.param("schema_version = 1", "schema_version = 2", "/schema_version: expected 1, found 2", id="const"),
    pytest.param('name = "digits-small-cnn"\n', "", "/run: missing key 'name' (add name = ... to [run])",
                 id="required"),
    pytest.param('[loss]\nname = "cross_entropy"\nparams = { label_smoothing = 0.05 }\n', "",
                 "/: missing key 'loss' (add a [loss] table with name = \"...\")", id="required-table"),
    pytest.param('name = "digits-small-cnn"', 'name = ""', "/run/name: expected a non-empty string, found ''",
                 id="min-length"),
    pytest.param("widths = [32, 64]", "widths = []",
                 "/model/backbone/params/widths: expected a list of at least 1 item, found 0", id="min-items"),
    pytest.param('dataset = { name = "digits" }', 'dataset = { name = "../etc/passwd" }',
                 "/data/dataset/name: expected a component name: the registered `name` or `dist:name`",
                 id="pattern"),
    pytest.param('[loss]\nname = "cross_entropy"\nparams = { label_smoothing = 0.05 }',
                 '[loss]\nname = "focal"\nparams = { alpha = "x" }',
                 "/loss/params/alpha: expected a number >= 0, a list of numbers or null, found 'x' (a string)",
                 id="any-of"),
    pytest.param('[loss]\nname = "cross_entropy"\nparams = { label_smoothing = 0.05 }',
                 '[loss]\nname = "focal"\nparams = { alpha = [-1] }',
                 "/loss/params/alpha/0: expected a number >= 0, found -1", id="any-of-deeper"),
    pytest.param('[optimizer]\nname = "sgd"', '[optimizer]\nname = "sdg"',
                 "/optimizer/name: no optimizer named 'sdg'; did you mean 'sgd'? (line 29)",
                 id="optimizer-name"),
]


@pytest.mark.parametrize(("old", "new", "expected"), PLAIN_SENTENCES)
def test_schema_messages_are_plain_sentences(tmp_path: Path, registry: Registry, old: str, new: str,
                                             expected: str) -> None:
    err = _error(registry, _write(tmp_path, _edit(old, new)))
    _problem(err, expected)


def test_every_problem_is_reported_at_once(tmp_path: Path, registry: Registry) -> None:
    text = _edit("epochs = 12", "epoch = 12")
    text = _edit("seed = 0", 'seed = "x"', text)
    text = _edit("lr = 0.05", "lr = nan", text)
    err = _error(registry, _write(tmp_path, text))
    assert len(err.problems) == 3, err.problems
    assert [p.split(":")[0] for p in err.problems] == ["/optimizer/params/lr", "/run", "/run/seed"]


def test_key_lines_place_keys_of_every_toml_form() -> None:
    text = (
        'a = 1  # a = 2\n'                       # 1
        's = """\nb = fake\n"""\n'              # 2-4: a multi-line string is no key
        '[t]\n'                                  # 5
        'x.y = [1,\n  # ]\n  {k = 1},\n]\n'     # 6-9
        '"q.k" = 2\n'                            # 10
        '[[arr]]\n'                              # 11
        'v = 1\n'                                # 12
        '[[arr]]\n'                              # 13
        '[arr.sub]\n'                            # 14
        'w = { in = { deep = 1 } }\n'            # 15
    )
    lines = key_lines(text)
    assert lines[("a",)] == 1 and ("b",) not in lines and lines[("s",)] == 2
    assert lines[("t",)] == 5 and lines[("t", "x")] == 6 and lines[("t", "x", "y", "1")] == 8
    assert lines[("t", "x", "y", "1", "k")] == 8 and lines[("t", "q.k")] == 10
    assert lines[("arr", "0", "v")] == 12 and lines[("arr", "1")] == 13
    assert lines[("arr", "1", "sub")] == 14 and lines[("arr", "1", "sub", "w", "in", "deep")] == 15


def test_key_lines_of_json_and_of_broken_text() -> None:
    text = '{\n  "a": {\n    "b\\u0021": [1,\n      {"c": 2}]\n  }\n}'
    lines = key_lines(text, is_json=True)
    assert lines[("a",)] == 2 and lines[("a", "b!")] == 3 and lines[("a", "b!", "1", "c")] == 4
    assert key_lines("a = 1\n[b\nc = 2") == {("a",): 1}  # what was read before the break is kept
    assert key_lines("[" * 10000) == {}


# -- class 2: --set ----------------------------------------------------------------------------------


@pytest.mark.parametrize("item", [
    "augment[0].params.max_shift=2", "augment.0.params.max_shift=2", " augment[0] . params . max_shift = 2",
])
def test_both_key_forms_set_the_same_value(registry: Registry, item: str) -> None:
    resolved = load_and_resolve(DIGITS, registry, [item])
    assert resolved.config["augment"][0]["params"]["max_shift"] == 2


def test_every_key_that_runs_show_prints_can_be_set_back() -> None:
    from torchrack_runs.cli._runs import flatten

    config = read_config(DIGITS)
    for key, value in flatten(config).items():
        assert apply_overrides(config, [f"{key}={json.dumps(value)}"]) == config, key
    out = apply_overrides(config, ["model.backbone.params.widths[1]=16", "metrics[2].name=ece"])
    assert out["model"]["backbone"]["params"]["widths"] == [32, 16]


#: (item, what the message says)
BAD_SET_PATHS = [
    ("augment[3].name=x", "augment is a list of 1 item, so 3 is not an index of it (valid: augment[0]); "
     "--set changes existing list items only: add the item in the config file"),
    ("augment.3.name=x", "so 3 is not an index of it"),
    ("augment.x.name=x", "augment is a list of 1 item, so 'x' is not an index of it (valid: augment[0])"),
    ("augment[-1].name=x", "so '-1' is not an index of it"),
    ("model.backbone.params.widths[5]=1", "model.backbone.params.widths is a list of 2 items, so 5 is not an "
     "index of it (valid: model.backbone.params.widths[0] to model.backbone.params.widths[1])"),
    ("run.name.x=1", "run.name is a string ('digits-small-cnn'), not a table or a list, so it has no key 'x'"),
    ("run.seed[0]=1", "run.seed is an integer (0), not a table or a list, so it has no item '0'"),
    ("run[0]=1", "run is a table, not a list: [0] cannot index it (its keys: name, seed, epochs)"),
    ("metricz[0].name=x", "metricz is not in the config, so it has no item [0]: --set cannot create list items"),
    ("augment[0=1", "'augment[0' is not a key: brackets hold a list index"),
    ("augment]0[.name=1", "is not a key"),
    ("augment..name=x", "has an empty part"),
    ("[0].name=x", "has an empty part"),
    ("run.epochs", "expected KEY=VALUE"),
    ("=3", "expected KEY=VALUE"),
]


@pytest.mark.parametrize(("item", "expected"), BAD_SET_PATHS)
def test_bad_set_paths_say_which_part_is_wrong(registry: Registry, item: str, expected: str) -> None:
    err = _error(registry, DIGITS, [item])
    assert err.source == "--set"
    assert str(err).startswith(f"--set: 1 problem(s) in the overrides of {DIGITS}:")
    assert err.problems[0].startswith(f"--set {shlex.quote(item)}: "), err.problems
    assert expected in err.problems[0], err.problems


def test_every_bad_override_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        apply_overrides(read_config(DIGITS), ["augment[5].name=x", "run.epochs=3", "run.name.x=1"])
    assert len(err.value.problems) == 2
    assert str(err.value).startswith("--set: 2 problem(s) in the overrides:")


#: (item, expected problem): values that are wrong for the schema, attributed to their --set
SET_VALUE_PROBLEMS = [
    ("run.epochs=0", "/run/epochs: expected an integer >= 1, found 0 (from --set run.epochs=0)"),
    ('run.epochs="3"', "/run/epochs: expected an integer, found '3' (a string) (write it without quotes: 3) "
     "(from --set 'run.epochs=\"3\"')"),
    ("augment[0].params.max_shfit=2", "/augment/0/params: unknown param 'max_shfit' of augmentation "
     "torchrack-augment:random_translate (did you mean 'max_shift'?); known params: max_shift, padding_mode, "
     "fill, seed (from --set 'augment[0].params.max_shfit=2')"),
    ("optimiser.params.lr=0.1", "/: unknown key 'optimiser' (did you mean 'optimizer'?)"),
    ("model.head.name=linaer", "/model/head/name: no head named 'linaer'"),
    ("data={}", "/data: missing key 'dataset'"),
]


@pytest.mark.parametrize(("item", "expected"), SET_VALUE_PROBLEMS)
def test_problems_in_set_values_are_attributed_to_the_set(registry: Registry, item: str,
                                                          expected: str) -> None:
    err = _error(registry, DIGITS, [item])
    assert err.source == "--set"
    assert str(err).startswith(f"--set: 1 problem(s) in the overrides of {DIGITS}:")
    problem = _problem(err, expected)
    assert problem.endswith(f"(from --set {shlex.quote(item)})") and "(line" not in problem


def test_file_and_set_problems_are_each_attributed(tmp_path: Path, registry: Registry) -> None:
    text = _edit("epochs = 12", "epoch = 12")
    path = _write(tmp_path, text)
    err = _error(registry, path, ["run.seed=-1"])
    assert err.source == str(path)
    assert str(err).startswith(f"{path}: 2 problem(s) in the config and its --set overrides:")
    assert _problem(err, "/run: unknown key 'epoch'").endswith(f"(line {_line_of(text, 'epoch =')})")
    assert _problem(err, "/run/seed: expected an integer >= 0, found -1").endswith("(from --set run.seed=-1)")


# -- class 3: non-finite numbers, 64-bit integers, deep nesting, huge integers --------------------

#: (old, new, pointers named)
TOML_NON_FINITE = [
    ("schema_version = 1", "schema_version = nan", ["/schema_version"]),
    ("epochs = 12", "epochs = +inf", ["/run/epochs"]),
    ("lr = 0.05", "lr = nan", ["/optimizer/params/lr"]),
    ("label_smoothing = 0.05", "label_smoothing = -inf", ["/loss/params/label_smoothing"]),
    ("widths = [32, 64]", "widths = [32, -nan]", ["/model/backbone/params/widths/1"]),
    ("max_shift = 1", "max_shift = 1, fill = 1e400", ["/augment/0/params/fill"]),
    ("lr = 0.05, momentum = 0.9", "lr = inf, momentum = nan", ["/optimizer/params/lr", "/optimizer/params/momentum"]),
]


@pytest.mark.parametrize(("old", "new", "pointers"), TOML_NON_FINITE)
def test_non_finite_numbers_in_toml_are_refused(tmp_path: Path, registry: Registry, old: str, new: str,
                                                pointers: list[str]) -> None:
    text = _edit(old, new)
    err = _error(registry, _write(tmp_path, text))
    assert len(err.problems) == len(pointers), err.problems
    for pointer in pointers:
        problem = _problem(err, f"{pointer}: expected a finite number, found ")
        assert "NaN and infinity are not allowed" in problem
        assert problem.endswith(f"(line {_line_of(text, new.split(',')[0])})"), problem


@pytest.mark.parametrize(("old", "new", "pointer"), [
    ('"lr": 0.05', '"lr": NaN', "/optimizer/params/lr"),
    ('"label_smoothing": 0.05', '"label_smoothing": Infinity', "/loss/params/label_smoothing"),
    ('"max_shift": 1', '"max_shift": 1, "fill": -Infinity', "/augment/0/params/fill"),
    ('"seed": 0', '"seed": 1e999', "/run/seed"),
    ('"widths": [', '"widths": [NaN, ', "/model/backbone/params/widths/0"),
])
def test_non_finite_numbers_in_json_are_refused(tmp_path: Path, registry: Registry, old: str, new: str,
                                                pointer: str) -> None:
    text = _edit(old, new, json.dumps(read_config(DIGITS), indent=2))
    err = _error(registry, _write(tmp_path, text, "c.json"))
    assert len(err.problems) == 1, err.problems
    assert err.problems[0].startswith(f"{pointer}: expected a finite number")
    assert "(line " in err.problems[0]


def test_many_bad_values_are_counted_but_not_all_listed(tmp_path: Path, registry: Registry) -> None:
    config = read_config(DIGITS)
    config["model"]["backbone"]["params"]["widths"] = [math.nan] * 500
    err = _error(registry, _write(tmp_path, json.dumps(config), "c.json"))
    assert len(err.problems) == 500
    text = str(err)
    assert text.startswith(f"{tmp_path / 'c.json'}: 500 problem(s) in the config:")
    assert text.count("\n") == 51 and text.endswith("\n  ... and 450 more")


@pytest.mark.parametrize(("item", "pointer"), [
    ("optimizer.params.lr=nan", "/optimizer/params/lr"),
    ("loss.params.label_smoothing=inf", "/loss/params/label_smoothing"),
    ("run.epochs=-inf", "/run/epochs"),
    ("model.backbone.params.widths=[32, nan]", "/model/backbone/params/widths/1"),
    ("augment[0].params={fill = nan}", "/augment/0/params/fill"),
    ("model.head.params.extra={a = {b = [1, inf]}}", "/model/head/params/extra/a/b/1"),
])
def test_non_finite_set_values_are_refused(registry: Registry, item: str, pointer: str) -> None:
    err = _error(registry, DIGITS, [item])
    assert err.source == "--set"
    assert err.problems == [
        f"--set {shlex.quote(item)}: {pointer}: expected a finite number, found "
        f"{err.problems[0].split('found ')[1]}"]
    assert "NaN and infinity are not allowed" in err.problems[0]


@pytest.mark.parametrize(("old", "new", "pointer", "found"), [
    ("seed = 0", f"seed = {2**64}", "/run/seed", str(2**64)),
    ("seed = 0", f"seed = {2**63}", "/run/seed", str(2**63)),
    ("widths = [32, 64]", f"widths = [32, {10**20}]", "/model/backbone/params/widths/1", str(10**20)),
    ("max_shift = 1", f"max_shift = {-2**63 - 1}", "/augment/0/params/max_shift", str(-2**63 - 1)),
    ("max_shift = 1", f"max_shift = {10**100}", "/augment/0/params/max_shift", "an integer of 101 digits"),
])
def test_integers_beyond_64_bits_are_refused(tmp_path: Path, registry: Registry, old: str, new: str,
                                             pointer: str, found: str) -> None:
    text = _edit(old, new)
    err = _error(registry, _write(tmp_path, text))
    assert err.problems == [
        f"{pointer}: expected an integer from {INT64_MIN} to {INT64_MAX} (64 bits), found {found} "
        f"(line {_line_of(text, new)})"]


@pytest.mark.parametrize("item", [f"run.seed={2**64}", f"model.head.params.in_features={10**20}",
                                  f"model.backbone.params.widths=[{2**63}]"])
def test_integers_beyond_64_bits_in_set_values_are_refused(registry: Registry, item: str) -> None:
    err = _error(registry, DIGITS, [item])
    assert err.source == "--set" and "(64 bits)" in err.problems[0] and str(INT64_MAX) in err.problems[0]


def test_the_largest_64_bit_seed_is_accepted(registry: Registry) -> None:
    assert load_and_resolve(DIGITS, registry, [f"run.seed={INT64_MAX}"]).config["run"]["seed"] == INT64_MAX


@pytest.mark.parametrize("suffix", [".toml", ".json"])
@pytest.mark.parametrize(("depth", "expected"), [
    (MAX_DEPTH + 10, f"/run/seed/0/0/0/0/...({MAX_DEPTH - 8} more).../0/0: nested more than {MAX_DEPTH} "
                     "levels deep"),
    (400, f"nested more than {MAX_DEPTH} levels deep"),
    (5000, "nested too deeply to be read"),
    (100_000, "nested too deeply to be read"),
])
def test_deeply_nested_files_name_the_file(tmp_path: Path, registry: Registry, suffix: str, depth: int,
                                           expected: str) -> None:
    deep = "[" * depth + "]" * depth
    if suffix == ".json":
        text = _edit('"seed": 0', f'"seed": {deep}', json.dumps(read_config(DIGITS), indent=2))
    else:
        text = _edit("seed = 0", f"seed = {deep}")
    path = _write(tmp_path, text, f"c{suffix}")
    err = _error(registry, path)
    assert err.source == str(path) and len(err.problems) == 1
    assert expected in err.problems[0]
    assert f"line {_line_of(text, '[[[')}" in err.problems[0]
    with pytest.raises(ConfigError):
        read_config(path)  # refused when read: copying or validating it could exhaust the stack


@pytest.mark.parametrize(("item", "expected"), [
    ("run.name=" + "[" * 100 + "]" * 100,
     f"/run/name/0/0/0/0/...({MAX_DEPTH - 8} more).../0/0: nested more than {MAX_DEPTH}"),
    ("run.name=" + "{a = " * 80 + "1" + "}" * 80, f"nested more than {MAX_DEPTH} levels deep"),
    ("run.name=" + "[" * 5000, "the value is nested too deeply to be read"),
    ("run.name=" + "[" * 50_000 + "]" * 50_000, "the value is nested too deeply to be read"),
    (".".join(["a"] * 5000) + "=1", f"the key has 5000 parts: a config is at most {MAX_DEPTH} levels"),
    (".".join(["a"] * (MAX_DEPTH + 1)) + "=1", f"the key has {MAX_DEPTH + 1} parts"),
])
def test_deeply_nested_set_values_name_the_set(registry: Registry, item: str, expected: str) -> None:
    err = _error(registry, DIGITS, [item])
    assert err.source == "--set" and len(err.problems) == 1
    assert err.problems[0].startswith("--set ") and "characters)" in err.problems[0]  # shortened
    assert expected in err.problems[0], err.problems


@pytest.mark.parametrize("suffix", [".toml", ".json"])
@pytest.mark.parametrize("digits", [4301, 5000, 100_000])
def test_integers_of_thousands_of_digits_name_the_file_and_line(tmp_path: Path, registry: Registry,
                                                                suffix: str, digits: int) -> None:
    big = "9" * digits
    if suffix == ".json":
        text = _edit('"seed": 0', f'"seed": {big}', json.dumps(read_config(DIGITS), indent=2))
    else:
        text = _edit("seed = 0", f"seed = {big}")
    path = _write(tmp_path, text, f"c{suffix}")
    err = _error(registry, path)
    assert err.problems == [f"line {_line_of(text, big)}: an integer of {digits} digits: integers must fit "
                            f"in 64 bits (from {INT64_MIN} to {INT64_MAX}); write a smaller number"]


def test_integers_of_thousands_of_digits_in_set_values(registry: Registry) -> None:
    err = _error(registry, DIGITS, ["run.seed=" + "9" * 5000])
    assert err.source == "--set"
    assert "an integer of 5000 digits: integers must fit in 64 bits" in err.problems[0]


def test_check_values_walks_without_recursion_and_in_document_order() -> None:
    deep: Any = 1.0
    for _ in range(200_000):  # far deeper than the interpreter's recursion limit
        deep = [deep]
    assert [p.kind for p in check_values(deep)] == ["too-deep"]
    tree = {"a": [1, float("nan"), {"b": 2**63}], "c": (float("-inf"),), "d": True, "e": INT64_MIN}
    problems = check_values(tree, path=("root",))
    assert [(p.pointer, p.kind) for p in problems] == [
        ("/root/a/1", "non-finite"), ("/root/a/2/b", "out-of-range"), ("/root/c/0", "non-finite")]
    assert check_values({"x": [[1]]}, max_depth=2)[0].pointer == "/x/0"
    assert check_values({"x": [[]]}, max_depth=2) == []  # empty containers hold nothing deeper


def test_check_values_can_be_reused_with_other_limits() -> None:
    problems = check_values({"n": 300}, int_min=0, int_max=255)
    assert str(problems[0]) == "/n: expected an integer from 0 to 255 (64 bits), found 300"


# -- class 4: a component's exception, without the C++ stack ---------------------------------------

_CPP = ('empty(): argument \'size\' failed to unpack the object at pos 2 with error "Overflow when '
        'unpacking long long\nException raised from THPUtils_unpackLong at torch/csrc/utils/'
        'python_numbers.h:79 (most recent call first):\n'
        + "".join(f"frame #{i}: c10::Error::Error(c10::SourceLocation) + 0x9d (0x7fa4 in libc10.so)\n"
                  for i in range(12))
        + "<omitting python frames>\nframe #22: __libc_start_main + 0x85\n")


def _slot() -> Any:
    from torchrack_runs._config import Slot

    return Slot("model.backbone", "/model/backbone", "backbone", {"name": "mlp"})


@pytest.mark.parametrize(("message", "shown"), [
    (_CPP, 'empty(): argument \'size\' failed to unpack the object at pos 2 with error "Overflow when '
           'unpacking long long"'),
    ("frame #0: only frames\nframe #1: more", "(no message)"),
    ("first line\n\nsecond line\nthird line\nfourth line", "first line second line third line ..."),
    ("x" * 10_000, "x" * 497 + "..."),
])
def test_component_errors_show_the_first_lines_without_cpp_frames(message: str, shown: str) -> None:
    from torchrack_runs._pipeline import ComponentError

    err = ComponentError(_slot(), "construction", RuntimeError(message))
    assert str(err) == f"backbone mlp (model.backbone) failed during construction: RuntimeError: {shown}"


def test_a_real_torch_overflow_is_shown_without_its_stack() -> None:
    torch = pytest.importorskip("torch")
    from torchrack_runs._pipeline import ComponentError, call_component

    with pytest.raises(ComponentError) as err:
        call_component(_slot(), "construction", torch.nn.Linear, 10**20, 10, device="meta")
    text = str(err.value)
    assert "frame #" not in text and "Exception raised from" not in text and len(text) < 700
    assert text.startswith("backbone mlp (model.backbone) failed during construction: ")


# -- property tests ----------------------------------------------------------------------------------

_specials = st.sampled_from([math.nan, math.inf, -math.inf, 2**63, -2**63 - 1, 2**64, 10**30])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8), _specials)
_trees = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(string.ascii_lowercase + "_", max_size=8), inner, max_size=3)),
    max_leaves=12,
)
_deep = st.integers(MAX_DEPTH - 2, 3 * MAX_DEPTH).map(lambda d: json.loads("[" * d + "]" * d))
_KEYS = ["schema_version", "run", "run.seed", "run.epochs", "data.dataset", "data.dataset.params",
         "augment", "augment[0]", "augment[0].params.max_shift", "model.backbone.params.widths",
         "model.backbone.params.widths[0]", "model.head.params", "loss.params.label_smoothing",
         "optimizer.params.lr", "optimizer", "metrics[1].name", "trackers", "run.name.x", "nope"]


def _place(config: dict[str, Any], key: str, value: Any) -> None:
    """Put ``value`` at ``key`` when the path exists (or is only missing tables)."""
    node: Any = config
    parts = key.replace("[", ".").replace("]", "").split(".")
    try:
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        node[int(parts[-1]) if isinstance(node, list) else parts[-1]] = value
    except (IndexError, AttributeError, TypeError, ValueError):
        pass


def _assert_sane(value: Any, depth: int = 0) -> None:
    """What a resolved config may hold (checked here without check_values)."""
    assert depth <= MAX_DEPTH
    if isinstance(value, dict):
        for v in value.values():
            _assert_sane(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _assert_sane(v, depth + 1)
    elif isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        assert -2**63 <= value < 2**63


@settings(max_examples=150, deadline=None)
@given(changes=st.lists(st.tuples(st.sampled_from(_KEYS), st.one_of(_trees, _deep)), min_size=1, max_size=3))
def test_hostile_configs_give_only_config_errors(registry: Registry, changes: list[tuple[str, Any]]) -> None:
    config = read_config(DIGITS)
    for key, value in changes:
        _place(config, key, value)
    try:
        resolved = resolve_config(config, registry, "fuzz.toml")
    except ConfigError as exc:
        assert exc.problems and "fuzz.toml" in str(exc)
        _assert_clean(str(exc))
    else:
        _assert_sane(resolved.config)


@settings(max_examples=100, deadline=None)
@given(tree=st.one_of(_trees, _deep))
def test_any_tree_gives_only_config_errors(registry: Registry, tree: Any) -> None:
    try:
        resolved = resolve_config(tree, registry, "tree.toml")
    except ConfigError as exc:
        assert "tree.toml" in str(exc)
    else:
        _assert_sane(resolved.config)


_RAW = st.one_of(st.sampled_from(["nan", "inf", "-inf", str(2**64), "9" * 5000, "[" * 3000, "{a = " * 70,
                                  "[1, nan]", '"x"', "x y", "", "=", "[", "]", "{}", "1e400"]),
                 st.text(max_size=12))


@settings(max_examples=150, deadline=None)
@given(items=st.lists(st.tuples(st.one_of(st.sampled_from(_KEYS), st.text(max_size=10)), _RAW),
                      min_size=1, max_size=3))
def test_hostile_set_values_give_only_config_errors(registry: Registry, items: list[tuple[str, str]]) -> None:
    try:
        resolved = load_and_resolve(DIGITS, registry, [f"{k}={v}" for k, v in items])
    except ConfigError as exc:
        assert exc.problems and all(p.strip() for p in exc.problems)
        _assert_clean(str(exc))
    else:
        _assert_sane(resolved.config)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old_new=st.sampled_from([(o, n) for o, n, *_ in (p.values for p in TOML_TYPOS + PLAIN_SENTENCES)]),
       junk=st.text(string.printable, max_size=30), where=st.integers(0, len(DIGITS_TEXT)))
def test_corrupted_files_give_only_config_errors(tmp_path: Path, registry: Registry, old_new: tuple[str, str],
                                                  junk: str, where: int) -> None:
    text = _edit(*old_new)
    path = _write(tmp_path, text[:where] + junk + text[where:])
    try:
        load_and_resolve(path, registry)
    except ConfigError as exc:
        assert str(path) in str(exc) or exc.source == "--set"


# -- end to end: the CLI -----------------------------------------------------------------------------


def test_cli_refuses_a_nan_lr_with_exit_1_and_records_nothing(tmp_path: Path) -> None:
    text = _edit("lr = 0.05", "lr = nan")
    path = _write(tmp_path, text, "nan.toml")
    proc = torchrack("validate", str(path), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (
        f"torchrack validate: error: {path}: 1 problem(s) in the config:\n"
        "  /optimizer/params/lr: expected a finite number, found nan; NaN and infinity are not allowed "
        f"in a config (line {_line_of(text, 'lr = nan')})\n")
    store = tmp_path / "store.sqlite"
    proc = torchrack("run", str(DIGITS), "--set", "optimizer.params.lr=nan", "--store", str(store), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "--set optimizer.params.lr=nan: /optimizer/params/lr: expected a finite number" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not store.exists() and not (tmp_path / ".torchrack").exists()
