"""The pytest plugin (--torchrack-conformance), the parametrize helper, and strict known failures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _fakeplugin import LOGITS, spec, write_plugin

CODE = '''
import torch.nn.functional as F
from torch import nn


class GoodLoss(nn.Module):
    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, logits, targets):
        if targets.is_floating_point():
            return -(targets * logits.log_softmax(1)).sum(1).mean() * self.scale
        return F.cross_entropy(logits, targets) * self.scale


class VectorLoss(GoodLoss):
    def forward(self, logits, targets):
        return F.cross_entropy(logits, targets, reduction="none")
'''

LOSS = {"inputs": {"logits": LOGITS, "targets": {"shape": ["N", "..."], "dtype": ["int64", "floating"]}},
        "outputs": {"loss": {"shape": [], "dtype": "floating"}}}
GOOD_CHECKS = ["specs", "params_schema", "global_state", "instantiate", "outputs_cpu", "outputs_meta",
               "deterministic", "no_inplace", "device_move", "gradients", "finite_scalar"]
VECTOR_FAILS = ["outputs_cpu", "outputs_meta", "finite_scalar"]


class Runner:
    """A project folder in which pytest runs in a child process, with the fake plugins importable."""

    def __init__(self, path: Path, site: Path, cache: Path) -> None:
        self.path = path
        self.env = {**os.environ, "PYTHONPATH": str(site), "TORCHRACK_CACHE_DIR": str(cache)}

    def makepyfile(self, **files: str) -> None:
        for name, text in files.items():
            (self.path / f"{name}.py").write_text(textwrap.dedent(text))

    def makepyprojecttoml(self, text: str) -> None:
        (self.path / "pyproject.toml").write_text(text)

    def runpytest_subprocess(self, *args: str) -> pytest.RunResult:
        start = time.time()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=self.path,
                              env=self.env, capture_output=True, text=True, timeout=600)
        return pytest.RunResult(proc.returncode, proc.stdout.splitlines(), proc.stderr.splitlines(), time.time() - start)


@pytest.fixture
def env(tmp_path: Path, isolated: Path) -> Runner:
    site = tmp_path / "site"
    site.mkdir()
    write_plugin(site, "fake-good", CODE, {"good_loss": spec("loss", "GoodLoss", {"scale": 1.0}, **LOSS)})
    write_plugin(site, "fake-bad", CODE, {"vector_loss": spec("loss", "VectorLoss", {"scale": 1.0}, **LOSS)})
    project = tmp_path / "project"
    project.mkdir()
    return Runner(project, site, tmp_path / "cache")


def summary_count(result: pytest.RunResult) -> int:
    m = re.search(r"torchrack conformance: (\d+) checks ran of (\d+)", result.stdout.str())
    assert m, result.stdout.str()
    return int(m[1])


def test_one_item_per_component_and_check_with_a_count(env: Runner) -> None:
    result = env.runpytest_subprocess("--torchrack-conformance", "--torchrack-dist", "fake-good", "-v")
    result.assert_outcomes(passed=1 + len(GOOD_CHECKS))
    result.stdout.fnmatch_lines(["*conformance[[]fake-good::manifest[]] PASSED*",
                                 "*conformance[[]fake-good:good_loss::finite_scalar[]] PASSED*"])
    assert summary_count(result) == 1 + len(GOOD_CHECKS)


def test_failures_name_the_check_and_component(env: Runner) -> None:
    result = env.runpytest_subprocess("--torchrack-conformance", "--torchrack-dist", "fake-bad")
    result.assert_outcomes(passed=1 + len(GOOD_CHECKS) - len(VECTOR_FAILS), failed=len(VECTOR_FAILS))
    result.stdout.fnmatch_lines(["*[[]finite_scalar[]] loss fake-bad:vector_loss: with hard targets returns shape [[]4[]]*"])


def test_declared_known_failures_are_strict_xfails(env: Runner) -> None:
    ids = ", ".join(f'"fake-bad:vector_loss::{c}" = "returns per-sample losses"' for c in VECTOR_FAILS)
    env.makepyprojecttoml(f"[tool.torchrack.conformance]\nxfail = {{{ids}}}\n")
    result = env.runpytest_subprocess("--torchrack-conformance", "--torchrack-dist", "fake-bad")
    result.assert_outcomes(passed=1 + len(GOOD_CHECKS) - len(VECTOR_FAILS), xfailed=len(VECTOR_FAILS))
    assert result.ret == 0

    # a declared failure that passes fails the run (strict), so the declaration cannot go stale
    env.makepyprojecttoml(
        f'[tool.torchrack.conformance]\nxfail = {{{ids}, "fake-bad:vector_loss::gradients" = "was flaky"}}\n'
    )
    result = env.runpytest_subprocess("--torchrack-conformance", "--torchrack-dist", "fake-bad")
    result.assert_outcomes(passed=len(GOOD_CHECKS) - len(VECTOR_FAILS), xfailed=len(VECTOR_FAILS), failed=1)
    result.stdout.fnmatch_lines(["*torchrack conformance fake-bad:vector_loss::gradients*",
                                 "[[]XPASS(strict)[]] was flaky"])


def test_the_parametrize_helper_in_a_plugin_suite(env: Runner) -> None:
    env.makepyfile(test_mine='''
        from torchrack.testing import parametrize_conformance

        @parametrize_conformance(dist="fake-bad", known_failures={
            "fake-bad:vector_loss::outputs_cpu": "per-sample",
            "fake-bad:vector_loss::outputs_meta": "per-sample",
            "fake-bad:vector_loss::finite_scalar": "per-sample",
        })
        def test_conformance(torchrack_case):
            torchrack_case.run()
    ''')
    result = env.runpytest_subprocess("-v")
    result.assert_outcomes(passed=1 + len(GOOD_CHECKS) - len(VECTOR_FAILS), xfailed=len(VECTOR_FAILS))
    result.stdout.fnmatch_lines(["*test_conformance[[]fake-bad:vector_loss::finite_scalar[]] XFAIL*"])


def test_an_unknown_distribution_is_a_usage_error(env: Runner) -> None:
    result = env.runpytest_subprocess("--torchrack-conformance", "--torchrack-dist", "fake-goood")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no plugin distribution named fake-goood is installed (did you mean 'fake-good'?)*"])


def test_without_the_option_the_plugin_adds_nothing_and_imports_no_torch(env: Runner) -> None:
    env.makepyfile(test_plain='''
        import sys

        def test_plain():
            assert "torch" not in sys.modules
    ''')
    result = env.runpytest_subprocess("-p", "no:hypothesispytest")
    result.assert_outcomes(passed=1)
    assert "torchrack conformance" not in result.stdout.str()
