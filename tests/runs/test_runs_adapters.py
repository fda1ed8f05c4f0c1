"""Shape adapters in a run: a feature map where the head wants [N, F] is caught before compute,
the error proposes the exact config lines, and applying them makes validate (and a run) pass."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ._cli import torchrack

ROOT = Path(__file__).resolve().parents[2]
DIGITS = (ROOT / "examples" / "digits.toml").read_text(encoding="utf-8")
MAP = DIGITS.replace("widths = [32, 64] }", "widths = [32, 64], pool = false }").replace(
    "[run]\n", "[run]\nepochs = 1\n", 1).replace("epochs = 12\n", "")


def _proposed_lines(stderr: str) -> str:
    """The TOML lines the error proposes (indented after 'add to the config:')."""
    after = stderr.split("add to the config:\n", 1)[1]
    lines = []
    for line in after.splitlines():
        if not line.startswith("      "):
            break
        lines.append(line.strip())
    return "\n".join(lines)


def test_a_feature_map_before_a_linear_head_is_refused_with_the_adapter_lines_that_fix_it(tmp_path: Path) -> None:
    assert "pool = false" in MAP
    (tmp_path / "map.toml").write_text(MAP)
    bad = torchrack("validate", "map.toml", cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "expects [N, 64] but backbone 'small_cnn' (model.backbone) gives [N, 64, 2, 2]" in bad.stderr
    lines = _proposed_lines(bad.stderr)
    assert lines == '[model.adapter]\nname = "global_pool"'
    (tmp_path / "fixed.toml").write_text(MAP + "\n" + lines + "\n")
    good = torchrack("validate", "fixed.toml", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert "model.adapter=torchrack-adapters:global_pool" in good.stdout


@pytest.mark.slow
def test_the_fixed_config_trains_and_records_the_adapter(tmp_path: Path) -> None:
    (tmp_path / "fixed.toml").write_text(MAP + '\n[model.adapter]\nname = "global_pool"\n')
    proc = torchrack("run", "fixed.toml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    shown = torchrack("runs", "show", "latest", cwd=tmp_path)
    assert re.search(r"model\.adapter\s+adapter\s+torchrack-adapters:global_pool", shown.stdout) or \
        "global_pool" in shown.stdout


PROJECTED = DIGITS.replace("in_features = 64", 'in_features = "auto"') + (
    '\n[model.adapter]\nname = "linear_projection"\nparams = { in_features = "auto", out_features = 48 }\n')


def test_auto_dims_follow_through_an_adapter_into_the_head(tmp_path: Path) -> None:
    (tmp_path / "auto.toml").write_text(PROJECTED)
    proc = torchrack("validate", "auto.toml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert 'model.adapter.params.in_features = 64 ("auto")' in out
    assert 'model.head.params.in_features = 48 ("auto")' in out


def test_a_wrong_literal_after_an_adapter_is_caught_by_validate_static(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(PROJECTED.replace('in_features = "auto", num_classes', "in_features = 32, num_classes"))
    proc = torchrack("validate", "bad.toml", "--static", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "model.head.params.in_features = 48" in proc.stderr
