"""The fast version path of vetting: whenever it decides, it gives packaging's answer.

``torchrack.plugins._versions`` decides plain release requirements without importing packaging;
everything here checks it against packaging itself, from tables and from generated inputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from torchrack.plugins._discovery import DistFacts
from torchrack.plugins._trust import canonical_dist
from torchrack.plugins._versions import contains, requirement_name, simple_requirement
from torchrack.plugins._vetting import (
    Environment,
    _compute_compat,
    _packaging_requirement,
    _requirement_reasons,
)

PROPS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def packaging_contains(spec: str, version: str) -> bool:
    return SpecifierSet(spec).contains(Version(version), prereleases=True)


# --- contains: tables ------------------------------------------------------------------------

DECIDED = [
    (">=1,<2", "1.0", True),
    (">=1,<2", "2.0", False),
    (">=0.1,<1", "0.1.0", True),
    ("<1,>=0.1", "1.0", False),
    (">=2.4", "2.13.0+cpu", True),
    (">=2.4", "2.3.9", False),
    ("", "1.0", True),
    (" ", "3", True),
    (",", "3", True),
    (">=1,,<2", "1.5", True),
    (">=1 , <2 ", "1.5", True),
    (">= 1", "1", True),
    ("==1.0", "1", True),
    ("==1", "1.0.0", True),
    ("!=1.0", "1.0.0", False),
    ("!=1.0", "1.0.1", True),
    ("<=2.0", "2.0+cpu", True),
    (">=2.0", "2.0+cpu", True),
    ("==2.0", "2.0+cpu", True),
    ("!=2.0", "2.0+cpu", False),
    ("<2.0", "2.0+cpu", False),
    (">2.0", "2.0+cpu", False),
    (">1.9", "2.0+cpu", True),
    ("<2.1", "2.0+cpu", True),
    ("<2", "2.0", False),
    (">2", "2.0.0", False),
    (">2", "2.0.1", True),
    ("==2.*", "2.13.0+cpu", True),
    ("==2.*", "3.0", False),
    ("!=2.*", "2.0", False),
    ("!=2.*", "1.9", True),
    ("==1.0.*", "1", True),
    ("==1.0.*", "1.0.5", True),
    ("==1.0.*", "1.1", False),
    ("==1.0.0.*", "1", True),
    ("~=2.2", "2.2", True),
    ("~=2.2", "2.9.1", True),
    ("~=2.2", "3.0", False),
    ("~=2.2", "2.1", False),
    ("~=2.2.0", "2.2.5", True),
    ("~=2.2.0", "2.3", False),
    ("~=1.0", "1", True),
    ("~=2.2", "2.2+cu121", True),
    ("~=2.2,!=2.5", "2.5.0", False),
    (">=1,<2", "01.00", True),
]

UNDECIDED = [
    (">=2.4rc1", "2.5"),  # pre-release in the specifier
    (">=2.4", "2.5.0a1"),  # pre-release installed
    (">=2.4", "2.5.post1"),
    (">=2.4", "2.5.dev0"),
    (">=1!2.4", "2.5"),  # epoch
    (">=2.4", "1!2.5"),
    ("===2.4", "2.4"),
    ("==2.4+cpu", "2.4+cpu"),  # local in the specifier
    ("~=2", "2.4"),  # invalid: ~= needs two release segments
    (">=2.*", "2.4"),  # invalid: .* only with == and !=
    ("~=2.2.*", "2.4"),
    (">=v2", "2.4"),
    (">=2.4", "v2.5"),
    (">=2.4", " 2.5"),
    (">=2.4", ""),
    (">=2.4", "2.5+"),
    (">=\u0662", "2"),  # a non-ASCII digit
    (">=2.4\n", "2.5"),  # whitespace other than spaces and tabs
    ("\u00a0>=2.4", "2.5"),
    (">=2.4;", "2.5"),
    ("lolwat", "1.0"),
    (">=", "1.0"),
    ("=>1", "1.0"),
    (">=1 2", "1.0"),
    ("(>=1)", "1.0"),
    (">=1" + "0" * 40, "1.0"),  # absurdly long segments are left to packaging
]


@pytest.mark.parametrize(("spec", "version", "expected"), DECIDED)
def test_contains_decides_as_packaging(spec: str, version: str, expected: bool) -> None:
    assert packaging_contains(spec, version) is expected, "the table itself is wrong"
    assert contains(spec, version) is expected


@pytest.mark.parametrize(("spec", "version"), UNDECIDED)
def test_contains_leaves_the_rest_undecided(spec: str, version: str) -> None:
    assert contains(spec, version) is None


# --- contains: generated ---------------------------------------------------------------------

OPERATORS = [">=", "<=", ">", "<", "==", "!=", "~=", "==="]
segments = st.integers(min_value=0, max_value=20)
releases = st.lists(segments, min_size=1, max_size=4).map(lambda parts: ".".join(map(str, parts)))
locals_ = st.sampled_from(["cpu", "cu121", "rocm6.1", "local.7", "Abc-1_x", "1"])
spaces = st.sampled_from(["", "", "", " ", "  ", "\t"])
versions = st.one_of(
    releases,
    st.builds(lambda r, loc: f"{r}+{loc}", releases, locals_),
    st.builds(
        lambda r, tail: r + tail,
        releases,
        st.sampled_from(["a1", "rc2", ".post1", ".dev0", "+", "-1", "!1", " ", ".0a0", ".*"]),
    ),
    st.builds(lambda e, r: f"{e}!{r}", st.integers(0, 2), releases),
)
clauses = st.builds(
    lambda lead, op, gap, release, star, trail: f"{lead}{op}{gap}{release}{star}{trail}",
    spaces,
    st.sampled_from(OPERATORS),
    spaces,
    releases,
    st.sampled_from(["", "", "", "", "", "", ".*", ".*", "a1", ".post2", ".dev1", "+cpu"]),
    spaces,
)
specifiers = st.lists(clauses, min_size=0, max_size=4).map(",".join)
junk = st.text(alphabet="0123456789.*,<>=!~+ \t;()[]@avr-_\n", max_size=20)
anything = st.one_of(specifiers, junk, st.text(max_size=12))


def check_decision(spec: str, version: str) -> None:
    decided = contains(spec, version)
    if decided is None:
        return
    try:
        parsed_spec = SpecifierSet(spec)
    except InvalidSpecifier:  # pragma: no cover - a failure of the fast path
        pytest.fail(f"decided {decided} for {spec!r}, which packaging rejects")
    try:
        parsed_version = Version(version)
    except InvalidVersion:  # pragma: no cover - a failure of the fast path
        pytest.fail(f"decided {decided} for version {version!r}, which packaging rejects")
    assert decided is parsed_spec.contains(parsed_version, prereleases=True), (spec, version)


@PROPS
@given(specifiers, versions)
def test_contains_agrees_with_packaging_on_specifiers(spec: str, version: str) -> None:
    check_decision(spec, version)


@PROPS
@given(anything, st.one_of(versions, junk))
def test_contains_agrees_with_packaging_on_junk(spec: str, version: str) -> None:
    check_decision(spec, version)


@PROPS
@given(st.lists(st.tuples(st.sampled_from(OPERATORS[:6]), releases), max_size=4), releases)
def test_contains_decides_every_plain_release_range(
    parts: list[tuple[str, str]], version: str
) -> None:
    spec = ",".join(op + release for op, release in parts)
    assert contains(spec, version) is packaging_contains(spec, version)


# --- requirement_name and simple_requirement -------------------------------------------------

VALID_LINES = [
    "torch",
    "torch>=2.4",
    "torch >= 2.4",
    "torch (>=2.4)",
    "torch(>=2.4,<3)",
    "  torch>=2.4",
    "Torch_Rack>=0.1",
    "torchrack>=0.1,<1",
    "torchrack<1,>=0.1",
    "torchrack[extra]>=0.1",
    "torchvision>=0.19",
    "torch.audio~=2.4",
    "numpy>=1.22",
    "pluggy>=1.3",
    "tomli>=2.0; python_version < '3.11'",
    "safetensors>=0.4; extra == 'safetensors'",
    "torch @ https://example.invalid/torch-2.4-py3-none-any.whl",
    "torch>=2.4rc1",
    "torch===2.4",
    "a",
    "a-b.c_d",
    "x1>=1",
]


@pytest.mark.parametrize("line", VALID_LINES)
def test_requirement_name_is_packagings_name(line: str) -> None:
    assert requirement_name(line) == canonical_dist(Requirement(line).name)


@pytest.mark.parametrize(
    "line", ["", " ", ">=1", "-torch", "_torch", "torch_", "torch.", "torch-", "\u00e9t\u00e9", "torch\u00e9"]
)
def test_requirement_name_without_a_valid_name(line: str) -> None:
    assert requirement_name(line) is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("torchrack>=0.1,<1", ("torchrack", ">=0.1,<1")),
        ("torch >= 2.4", ("torch", ">= 2.4")),
        ("torch (>=2.4)", ("torch", ">=2.4")),
        ("torch( >=2.4 , <3 )", ("torch", ">=2.4 , <3")),
        ("torch", ("torch", "")),
        ("  Torch_Rack  ", ("torch-rack", "")),
        ("torch==2.*", ("torch", "==2.*")),
        ("torch~=2.4", ("torch", "~=2.4")),
    ],
)
def test_simple_requirement(line: str, expected: tuple[str, str]) -> None:
    assert simple_requirement(line) == expected
    req = Requirement(line)
    assert canonical_dist(req.name) == expected[0]
    assert req.specifier == SpecifierSet(expected[1])


@pytest.mark.parametrize(
    "line",
    [
        "torch[cuda]>=2.4",
        "torch>=2.4; sys_platform == 'linux'",
        "torch @ https://example.invalid/torch.whl",
        "torch>=2.4rc1",
        "torch===2.4",
        "torch~=2",  # invalid
        "torch>=2.*",  # invalid
        "torch (>=2.4",  # invalid
        "torch >=2.4)",
        "torch ()",
        "torch>=2.4,",
        "torch>=",
        "torch 2.4",
        "torch>=2.4\n",
        "",
    ],
)
def test_simple_requirement_leaves_the_rest_to_packaging(line: str) -> None:
    assert simple_requirement(line) is None


names = st.sampled_from(["torch", "torchrack", "Torch_Rack", "torchvision", "numpy", "a", "x.y-z"])
requirement_lines = st.builds(
    lambda lead, name, gap, spec, paren, tail: (
        f"{lead}{name}{gap}({spec}){tail}" if paren else f"{lead}{name}{gap}{spec}{tail}"
    ),
    spaces,
    names,
    spaces,
    st.one_of(specifiers, junk),
    st.booleans(),
    st.one_of(spaces, junk, st.sampled_from(["; extra == 'x'", "; python_version < '3'", "[x]"])),
)


@PROPS
@given(st.one_of(requirement_lines, junk, st.text(max_size=16)))
def test_requirement_helpers_agree_with_packaging(line: str) -> None:
    try:
        req: Requirement | None = Requirement(line)
    except InvalidRequirement:
        req = None
    name = requirement_name(line)
    if req is not None and name is not None:
        assert name == canonical_dist(req.name), line
    simple = simple_requirement(line)
    if simple is not None:
        assert req is not None, f"{line!r} is simple, but packaging rejects it"
        assert simple[0] == canonical_dist(req.name) == name
        assert not req.extras and req.marker is None and not req.url
        assert req.specifier == SpecifierSet(simple[1])


# --- vetting gives what packaging alone gives ------------------------------------------------


def facts_for(requires: list[str], api: object = ">=1,<2") -> DistFacts:
    return DistFacts(
        name="acme-x",
        version="1.0",
        location="/nowhere",
        requires=requires,
        entry_points=[],
        manifest_path="/nowhere/torchrack-manifest.json",
        manifest={"api": api},
    )


def packaging_only(facts: DistFacts, env: Environment) -> tuple[list[str], list[str]]:
    """What _requirement_reasons gave before the fast path: every line through packaging."""
    reasons: list[str] = []
    found_core = False
    for line in facts.requires:
        found_core = _packaging_requirement(line, facts, env, reasons) or found_core
    warnings = [] if found_core else [
        "declares no Requires-Dist on torchrack; add a range such as "
        "'torchrack>=0.1,<1' to its dependencies"
    ]
    return reasons, warnings


environments = st.builds(
    Environment,
    torchrack=st.sampled_from(["0.1.0", "1.0", "0.2.0rc1"]),
    api=st.sampled_from(["1.0", "2", "1.1"]),
    torch=st.sampled_from([None, "2.13.0+cpu", "2.4", "2.5.0a1", "garbage"]),
)


@PROPS
@given(st.lists(st.one_of(requirement_lines, junk), max_size=5), environments)
def test_requirement_reasons_are_packagings(requires: list[str], env: Environment) -> None:
    facts = facts_for(requires)
    assert _requirement_reasons(facts, env) == packaging_only(facts, env)


@PROPS
@given(st.one_of(specifiers, junk), environments)
def test_api_range_is_vetted_as_packaging_does(api: str, env: Environment) -> None:
    facts = facts_for(["torchrack>=0.1"], api)
    got = _compute_compat(facts, env)
    try:
        supported: bool | None = packaging_contains(api, env.api)
    except InvalidSpecifier:
        supported = None
    assert (supported is None) == bool(got["broken"]), (api, got)
    api_reasons = [r for r in got["reasons"] if r.startswith("its manifest supports hook API")]
    assert len(api_reasons) == (supported is False), (api, got)


@pytest.mark.parametrize(
    ("requires", "torch", "expected"),
    [
        (["torchrack>=99"], "2.13.0+cpu", "requires torchrack>=99 but torchrack 0.1.0 is installed ("),
        (["torchrack>=0.1", "torch (<2)"], "2.13.0+cpu", "requires torch<2 but torch 2.13.0+cpu is"),
        (["torchrack>=0.1", "torch>=2.4"], None, "requires torch>=2.4 but torch is not installed"),
        (["torchrack>=0.1", "torch~=2"], "2.13.0+cpu", "cannot parse Requires-Dist 'torch~=2'"),
        (["torchrack>=0.1", "torchvision>="], "2.13.0+cpu", "cannot parse Requires-Dist"),
    ],
)
def test_failures_keep_packagings_messages(
    requires: list[str], torch: str | None, expected: str
) -> None:
    reasons, _ = _requirement_reasons(facts_for(requires), Environment(torch=torch))
    assert len(reasons) == 1 and reasons[0].startswith(expected), reasons


def test_no_requirement_on_torchrack_warns() -> None:
    reasons, warnings = _requirement_reasons(
        facts_for(["torch>=2.4", "numpy"]), Environment(torch="2.13.0+cpu")
    )
    assert reasons == [] and len(warnings) == 1 and "no Requires-Dist on torchrack" in warnings[0]


# --- the point of it all ---------------------------------------------------------------------


def test_vetting_the_first_party_plugins_imports_no_packaging(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from torchrack.plugins import Registry\n"
        "reg = Registry.discover(use_cache=False)\n"
        "print(json.dumps({'plugins': {p.name: p.verdict for p in reg.plugins},\n"
        "    'packaging': sorted(m for m in sys.modules if m.split('.')[0] == 'packaging')}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHRACK_")}
    env.update(TORCHRACK_NO_CACHE="1", TORCHRACK_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["plugins"], "no first-party plugin was discovered"
    assert set(out["plugins"].values()) == {"ok"}, out["plugins"]
    assert out["packaging"] == [], f"vetting imported {out['packaging']}"
