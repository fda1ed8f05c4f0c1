"""The plain data classes of the discovery path (torchrack._record): the behaviour the dataclasses
they replace had, which callers rely on (==, repr, frozen, hashing, keyword construction)."""

from __future__ import annotations

import inspect

import pytest
from torchrack.contracts import SchemaProblem, TensorSpec
from torchrack.plugins import (
    ComponentInfo,
    ComponentRef,
    DistFacts,
    EntryPointFact,
    Environment,
    PluginInfo,
    Rule,
    ScanResult,
    Settings,
)

ALL = [ComponentInfo, ComponentRef, DistFacts, EntryPointFact, Environment, PluginInfo, Rule, Settings,
       ScanResult, SchemaProblem, TensorSpec]
FROZEN = [ComponentRef, Environment, Rule, Settings, SchemaProblem, TensorSpec]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_init_parameter_is_a_compared_field(cls: type) -> None:
    # a parameter left out of _fields would be ignored by == and repr (and by the cache's checks)
    assert list(inspect.signature(cls.__init__).parameters)[1:] == list(cls._fields)  # type: ignore[attr-defined]


def test_equality_repr_and_defaults() -> None:
    a = PluginInfo("acme", "1.0", "/x", "ok")
    b = PluginInfo(name="acme", version="1.0", location="/x", verdict="ok")
    assert a == b and a is not b
    a.reasons.append("one")
    assert a != b and b.reasons == []  # each instance its own list, as field(default_factory=list)
    assert repr(EntryPointFact("g", "n", "m:a")) == "EntryPointFact(group='g', name='n', value='m:a')"
    assert EntryPointFact("g", "n", "m:a") != ("g", "n", "m:a")  # another type is never equal
    with pytest.raises(TypeError):
        hash(a)  # mutable records are unhashable, as eq dataclasses are


@pytest.mark.parametrize("cls", FROZEN, ids=lambda c: c.__name__)
def test_frozen_records_refuse_assignment_and_hash_by_value(cls: type) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    values = {p.name: ("x" if p.default is inspect.Parameter.empty else p.default) for p in params}
    if cls is Settings:
        values["sources"] = None  # the default: a fresh dict, which makes it unhashable
    one, two = cls(**values), cls(**values)
    assert one == two
    with pytest.raises(AttributeError):
        setattr(one, params[0].name, "changed")
    with pytest.raises(AttributeError):
        delattr(one, params[0].name)
    if cls is not Settings:
        assert hash(one) == hash(two) and len({one, two}) == 1


def test_settings_repr_names_every_rule_and_value() -> None:
    # the listing cache is keyed on repr(settings): it must change with any setting
    base = Settings()
    assert repr(base) != repr(Settings(strict=True)) != repr(Settings(deny=(Rule("acme", None, "env"),)))
    assert "probe_timeout=10.0" in repr(base) and "Rule(dist='acme', component=None, source='env')" in repr(
        Settings(deny=(Rule("acme", None, "env"),)))


@pytest.mark.parametrize("make", [
    lambda: Settings(deny=(Rule("acme", None, "env"),), sources={"deny": "TORCHRACK_DENY"}),
    lambda: PluginInfo("acme", "1.0", "/x", "ok", reasons=["r"]),
    lambda: Environment(torch="2.13.0"),
    lambda: TensorSpec(("N", 3), ("float32",)),
], ids=["Settings", "PluginInfo", "Environment", "TensorSpec"])
def test_records_survive_pickle_and_copy(make: object) -> None:
    # sweeps send settings and plugin facts to worker processes (Ray, multiprocessing)
    import copy
    import pickle

    record = make()  # type: ignore[operator]
    assert pickle.loads(pickle.dumps(record)) == record
    assert copy.deepcopy(record) == record and copy.copy(record) == record
