"""torchrack.plugins: every public name resolves (its submodules are imported on first use), and
importing the package alone loads none of the registry, vetting or loader modules."""

from __future__ import annotations

import importlib
import subprocess
import sys

import torchrack.plugins as plugins


def test_every_public_name_resolves_to_its_submodule_object() -> None:
    assert sorted(plugins.__all__) == sorted(set(plugins.__all__))
    assert set(plugins._LAZY) == set(plugins.__all__)
    for name in plugins.__all__:
        value = getattr(plugins, name)
        source = importlib.import_module(f"torchrack.plugins.{plugins._LAZY[name]}")
        assert value is getattr(source, "DEFAULT_TIMEOUT" if name == "DEFAULT_PROBE_TIMEOUT" else name)
        assert name in dir(plugins)
    exec("from torchrack.plugins import *", {})  # noqa: S102 - every __all__ name importable


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    try:
        plugins.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_importing_the_package_loads_no_submodule_until_a_name_is_used() -> None:
    code = ("import sys, torchrack.plugins as p\n"
            "heavy = ['_registry', '_vetting', '_loader', '_probe', '_discovery']\n"
            "print(sorted(m for m in heavy if 'torchrack.plugins.' + m in sys.modules))\n"
            "p.Registry\n"
            "print('torchrack.plugins._registry' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.splitlines() == ["[]", "True"], out
