"""The dry run: each mismatch names both components, both shapes and the key to set, the same
on the meta device and on the CPU (validate's `auto` for a small model, and what `run` does)."""

from __future__ import annotations

import pytest
from torchrack import Registry
from torchrack_runs._config import apply_overrides, read_config, resolve_config
from torchrack_runs._pipeline import check_pipeline

from ._cli import DIGITS


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(use_cache=False)


@pytest.fixture(params=["meta", "auto", "cpu"])
def device(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _problems(registry: Registry, overrides: list[str], extra_augment: dict | None = None,
              device: str = "meta") -> list[str]:
    config = apply_overrides(read_config(DIGITS), overrides)
    if extra_augment is not None:
        config["augment"].append(extra_augment)
    return check_pipeline(resolve_config(config, registry, "digits.toml"), registry, device=device)


def test_the_demo_pipeline_fits(registry: Registry, device: str) -> None:
    assert _problems(registry, [], device=device) == []


@pytest.mark.parametrize(
    ("overrides", "augment", "expected"),
    [
        (["model.head.params.in_features=512"], None,
         "head 'linear' (model.head) input 'features' expects [N, 512] but backbone 'small_cnn' "
         "(model.backbone) gives [N, 64] (set model.head.params.in_features = 64)"),
        (["model.backbone.params.in_channels=3"], None,
         "backbone 'small_cnn' (model.backbone) input 'inputs' expects [N, 3, H, W] but augmentation "
         "'random_translate' (augment.0) gives [N, 1, 8, 8] (set model.backbone.params.in_channels = 1)"),
        (["model.head.params.num_classes=7"], None,
         "head 'linear' (model.head) gives logits [N, 7] but dataset 'digits' (data.dataset) has 10 "
         "classes (set model.head.params.num_classes = 10)"),
        ([], {"name": "mixup", "params": {"num_classes": 5}},
         "augmentation 'mixup' (augment.1) gives soft targets [N, 5] but head 'linear' (model.head) "
         "gives logits [N, 10]: the class counts differ (set augment.1.params.num_classes = 10)"),
    ],
)
def test_mismatches_name_both_sides_and_the_fix(registry: Registry, overrides: list[str],
                                                augment: dict | None, expected: str, device: str) -> None:
    assert expected in _problems(registry, overrides, augment, device=device)


def test_a_component_that_computes_other_than_it_declares_is_blamed_not_the_config(
        registry: Registry, device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A plugin bug: the module's output disagrees with its own manifest. No config line fixes it,
    # so the message says which plugin (and version) to report, not "X expects .. but X gives".
    from torchrack_heads.linear import LinearHead

    real = LinearHead.forward
    monkeypatch.setattr(LinearHead, "forward", lambda self, features: real(self, features)[..., None])
    [problem] = _problems(registry, [], device=device)
    assert problem.startswith(
        "head 'linear' (model.head) output 'logits' is declared [N, 10] in its manifest "
        "but the module gave [N, 10, 1]: its declared outputs do not match what it computes "
        "(a bug in torchrack-heads 0.1.0; report it to the plugin's author)"), problem


def test_soft_targets_with_matching_classes_fit(registry: Registry, device: str) -> None:
    assert _problems(registry, [], {"name": "mixup", "params": {"num_classes": 10}}, device=device) == []


def test_runs_dry_run_on_the_built_model_changes_nothing_it_trains(tmp_path, monkeypatch) -> None:
    """`run` dry-runs the objects it then trains: the result must equal a run without the dry run."""
    import torch
    from torchrack_runs import Runner

    monkeypatch.chdir(tmp_path)
    results = []
    for checked in (False, True):  # checked=True: no dry run (as a launched worker)
        runner = Runner(DIGITS, ["run.epochs=1"], store=tmp_path / f"s{checked}" / "runs.sqlite")
        if not checked:
            from torchrack_runs._build import build

            pipe = build(runner.resolved, runner.registry, 0, runner.accelerator())
            before = {k: v.clone() for k, v in pipe.model.state_dict().items()}
            training = pipe.model.training
            runner.check(pipeline=pipe)
            after = pipe.model.state_dict()
            assert all(torch.equal(before[k], after[k]) for k in before) and pipe.model.training == training
        run, _ = runner.run(checked=checked, progress=False, log=lambda msg: None)
        results.append(run.final_metrics)
    assert results[0] == results[1]
