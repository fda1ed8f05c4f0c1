"""The opt-in ``compile`` check: off unless asked for; catches planted graph breaks and names the
reason and the line; its results are what ``torchrack info`` shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _fakeplugin import LOGITS, spec, write_plugin
from torchrack import Registry
from torchrack.testing import ConformanceFailure, check_component, conformance_cases, load_config

CODE = '''
import torch
import torch.nn.functional as F
from torch import nn


class GoodLoss(nn.Module):
    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, logits, targets):
        return F.cross_entropy(logits, targets) * self.scale


class ItemLoss(GoodLoss):
    def forward(self, logits, targets):
        loss = F.cross_entropy(logits, targets)
        if loss.item() > 100.0:  # a Python branch on a tensor's value
            loss = loss * 0.5
        return loss * self.scale


class PrintLoss(GoodLoss):
    def forward(self, logits, targets):
        print("loss")
        return F.cross_entropy(logits, targets) * self.scale
'''

LOSS = {"inputs": {"logits": LOGITS, "targets": {"shape": ["N"], "dtype": "int64"}},
        "outputs": {"loss": {"shape": [], "dtype": "floating"}}}


@pytest.fixture
def registry(fake_site: Path) -> Registry:
    write_plugin(fake_site, "fake-compile", CODE, {
        "good_loss": spec("loss", "GoodLoss", {"scale": 1.0}, **LOSS),
        "item_loss": spec("loss", "ItemLoss", {"scale": 1.0}, **LOSS),
        "print_loss": spec("loss", "PrintLoss", {"scale": 1.0}, **LOSS),
    })
    return Registry.discover()


def _checks(registry: Registry, **kwargs: object) -> set[str]:
    return {c.check for c in conformance_cases("fake-compile", registry=registry, **kwargs)}  # type: ignore[arg-type]


def test_compile_check_is_off_unless_asked_for(registry: Registry, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.delenv("TORCHRACK_CONFORMANCE_COMPILE", raising=False)
    assert "compile" not in _checks(registry)
    assert "compile" in _checks(registry, compile=True)
    monkeypatch.setenv("TORCHRACK_CONFORMANCE_COMPILE", "1")
    assert "compile" in _checks(registry)
    assert "compile" not in _checks(registry, compile=False)
    monkeypatch.delenv("TORCHRACK_CONFORMANCE_COMPILE")
    (tmp_path / "pyproject.toml").write_text("[tool.torchrack.conformance]\ncompile = true\n")
    config = load_config(tmp_path / "pyproject.toml")
    assert config.compile and "compile" in _checks(registry, config=config)


def test_a_bad_compile_setting_is_refused(tmp_path: Path) -> None:
    from torchrack.testing import ConformanceConfigError

    (tmp_path / "pyproject.toml").write_text('[tool.torchrack.conformance]\ncompile = "yes"\n')
    with pytest.raises(ConformanceConfigError, match="compile must be true or false"):
        load_config(tmp_path / "pyproject.toml")


def test_a_compilable_loss_passes(registry: Registry) -> None:
    [result] = check_component("fake-compile:good_loss", checks=["compile"], registry=registry)
    assert result.passed


@pytest.mark.parametrize(("name", "reason", "line"), [
    ("item_loss", r"(item|Tensor\.item|data-dependent|scalar)", "in forward"),
    ("print_loss", r"print", "in forward"),
])
def test_a_graph_break_fails_naming_the_reason_and_where(registry: Registry, name: str, reason: str,
                                                        line: str) -> None:
    with pytest.raises(ConformanceFailure) as info:
        check_component(f"fake-compile:{name}", checks=["compile"], registry=registry)
    [message] = info.value.failures
    assert message.startswith(f"[compile] loss fake-compile:{name}: graph break under torch.compile(fullgraph=True)")
    import re

    assert re.search(reason, message, re.IGNORECASE), message
    assert line in message and ".py:" in message, message


def test_info_shows_the_recorded_result_without_importing_torch(registry: Registry) -> None:
    check_component("fake-compile:good_loss", checks=["compile"], registry=registry)
    with pytest.raises(ConformanceFailure):
        check_component("fake-compile:print_loss", checks=["compile"], registry=registry)
    code = (
        "import sys, runpy; sys.argv = ['torchrack', 'info', {name!r}, '--no-import'{json}];\n"
        "try:\n    runpy.run_module('torchrack', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "assert 'torch' not in sys.modules, 'info imported torch'\n"
    )
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code.format(name="fake-compile:good_loss", json="")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "compile: passed (torch.compile(fullgraph=True), torch " in out.stdout, out.stdout
    out = subprocess.run([sys.executable, "-c", code.format(name="fake-compile:print_loss", json=", '--json'")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["compile"]["status"] == "failed" and "print" in data["compile"]["messages"][0]
    out = subprocess.run([sys.executable, "-c", code.format(name="fake-compile:item_loss", json="")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert "compile: not checked" in out.stdout, out.stdout


@pytest.mark.parametrize("text", [
    "{not json", "[1, 2]", '{"fake-compile==0.1.0": 5}', '{"fake-compile==0.1.0": {"loss:good_loss": []}}',
    '{"fake-compile==0.1.0": {"loss:good_loss": {"status": "passed", "messages": [1, null]}}}',
])
def test_a_corrupt_results_file_is_a_miss_and_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          text: str) -> None:
    """The results file is a hint: any other shape reads as 'not checked' (or drops what is not
    text), and the next recorded result replaces the broken entry instead of failing the check."""
    from torchrack.testing import _compile_record as rec

    monkeypatch.setenv("TORCHRACK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TORCHRACK_NO_CACHE", raising=False)
    (tmp_path / rec.FILE).write_text(text)
    found = rec.lookup("fake-compile", "0.1.0", "loss", "good_loss")
    assert found is None or found["messages"] == []
    rec.record("fake-compile", "0.1.0", "loss", "good_loss", "failed", ["a reason"], "2.13.0")
    found = rec.lookup("fake-compile", "0.1.0", "loss", "good_loss")
    assert found is not None and found["status"] == "failed" and found["messages"] == ["a reason"]


def test_parallel_workers_keep_every_recorded_result(tmp_path: Path) -> None:
    """pytest -n auto records from several processes at once: none drops another's results."""
    code = (
        "import sys\n"
        "from torchrack.testing._compile_record import record\n"
        "w = sys.argv[1]\n"
        "for i in range(40):\n"
        "    record('acme', '1.0', 'loss', f'w{w}_{i}', 'passed', [])\n"
    )
    import os

    env = {**os.environ, "TORCHRACK_CACHE_DIR": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("TORCHRACK_NO_CACHE", None)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(w)], env=env) for w in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    data = json.loads((tmp_path / "compile-results.json").read_text())
    assert len(data["acme==1.0"]) == 160
