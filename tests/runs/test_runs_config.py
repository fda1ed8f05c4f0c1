"""Config reading, overrides and static validation: errors carry file and JSON pointer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from torchrack import Registry
from torchrack_runs._config import ConfigError, apply_overrides, load_and_resolve, read_config

from ._cli import DIGITS, torchrack


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(use_cache=False)


def test_digits_config_resolves_statically(registry: Registry) -> None:
    resolved = load_and_resolve(DIGITS, registry)
    roles = {s.role: s.info.qualname for s in resolved.slots if s.info}
    assert roles["model.backbone"] == "torchrack-backbones:small_cnn"
    assert roles["data.dataset"] == "torchrack-datasets:digits"
    # params are completed with the manifest's defaults
    assert "label_smoothing" in resolved.slot("loss").params


def test_json_config_is_accepted(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(read_config(DIGITS)))
    assert load_and_resolve(path, registry).sha256 == load_and_resolve(DIGITS, registry).sha256


@pytest.mark.parametrize(
    ("override", "pointer"),
    [
        ("model.head.name=linaer", "/model/head/name"),
        ('loss.params.label_smoothing="high"', "/loss/params/label_smoothing"),
        ("loss.params.label_smoothing=1.5", "/loss/params/label_smoothing"),
        ("run.epochs=0", "/run/epochs"),
        ("model.backbone.params.widthz=[1]", "/model/backbone/params"),
        ('model.head.version=">=9"', "/model/head/version"),
    ],
)
def test_bad_values_are_reported_with_their_json_pointer(
    registry: Registry, override: str, pointer: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_and_resolve(DIGITS, registry, [override])
    assert any(p.startswith(pointer) for p in err.value.problems), err.value.problems
    assert str(DIGITS) in str(err.value)


def test_unknown_component_suggests_the_close_name(registry: Registry) -> None:
    with pytest.raises(ConfigError) as err:
        load_and_resolve(DIGITS, registry, ["model.backbone.name=smal_cnn"])
    assert "did you mean 'small_cnn'" in str(err.value)


def test_overrides_address_nested_keys_and_list_items() -> None:
    cfg = {"run": {"epochs": 1}, "augment": [{"name": "a", "params": {}}]}
    out = apply_overrides(cfg, ["run.epochs=3", "augment.0.params.p=0.5", "run.name=x y"])
    assert out["run"]["epochs"] == 3
    assert out["augment"][0]["params"]["p"] == 0.5
    assert out["run"]["name"] == "x y"
    assert cfg["run"]["epochs"] == 1  # the input is not modified
    with pytest.raises(ConfigError, match="not an index"):
        apply_overrides(cfg, ["augment.5.name=b"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides(cfg, ["run.epochs"])


def test_unreadable_and_malformed_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nname = 1\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        read_config(bad)
    badjson = tmp_path / "bad.json"
    badjson.write_text("{\n  \"run\": ,\n}")
    with pytest.raises(ConfigError, match="line 2"):
        read_config(badjson)


def test_validate_static_imports_neither_torch_nor_plugins(tmp_path: Path) -> None:
    code = (
        "import sys, json\n"
        "from torchrack.cli import main\n"
        f"rc = main(['validate', {str(DIGITS)!r}, '--static'])\n"
        "mods = [m for m in sys.modules if m == 'torch' or m.startswith('torch.') or (m.startswith('torchrack_') and not m.startswith('torchrack_runs'))]\n"
        "print(json.dumps({'rc': rc, 'mods': mods}))\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={**__import__("os").environ, "TORCHRACK_CACHE_DIR": str(tmp_path)})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"rc": 0, "mods": []}


def test_cli_config_errors_show_no_traceback(tmp_path: Path) -> None:
    proc = torchrack("validate", str(DIGITS), "--static", "--set", "loss.params.label_smoothing=-1",
                     cwd=tmp_path)
    assert proc.returncode == 1
    assert "/loss/params/label_smoothing" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
