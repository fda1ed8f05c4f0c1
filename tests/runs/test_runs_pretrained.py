"""A backbone pre-trained in a recorded run: ``checkpoint`` with ``run = ID`` takes the weights,
the backbone and its params from the run's record, and the new record links the two runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from ._cli import torchrack

PRE = """\
schema_version = 1
[run]
name = "pre"
epochs = 1
[data]
dataset = { name = "digits", params = { classes = [0, 1, 2, 3, 4] } }
batch_size = 64
[model]
backbone = { name = "small_cnn", params = { in_channels = 1, widths = [8, 16] } }
head = { name = "linear", params = { in_features = "auto", num_classes = 10 } }
[loss]
name = "cross_entropy"
[[metrics]]
name = "accuracy"
"""
TRANSFER = PRE.replace('name = "pre"', 'name = "post"').replace("[0, 1, 2, 3, 4] }", "[5, 6, 7, 8, 9], labels_per_class = 10 }").replace(
    'backbone = { name = "small_cnn", params = { in_channels = 1, widths = [8, 16] } }',
    'backbone = { name = "checkpoint", params = { run = "RUN", freeze = true } }')


def _show(tmp_path: Path, ref: str = "latest") -> dict[str, Any]:
    shown = torchrack("runs", "show", ref, "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    record: dict[str, Any] = json.loads(shown.stdout)
    return record


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    cwd = tmp_path_factory.mktemp("pretrained")
    (cwd / "pre.toml").write_text(PRE)
    proc = torchrack("run", "pre.toml", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd, _show(cwd)


@pytest.mark.slow
def test_a_frozen_backbone_from_a_run_keeps_its_weights_and_the_record_links_the_runs(
        pretrained: tuple[Path, dict[str, Any]]) -> None:
    cwd, pre = pretrained
    (cwd / "post.toml").write_text(TRANSFER.replace("RUN", pre["run_id"]))
    proc = torchrack("run", "post.toml", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    post = _show(cwd)
    [link] = post["pretrained_from"]
    assert link == {"role": "model.backbone", "run_id": pre["run_id"], "epoch": 1,
                    "checkpoint": str(Path(cwd / pre["checkpoint"]).resolve())}
    params = post["resolved_config"]["model"]["backbone"]["params"]
    assert params["backbone"] == "small_cnn" and params["backbone_params"]["widths"] == [8, 16]
    assert params["prefix"] == "backbone." and params["run"] == pre["run_id"]
    before = torch.load(cwd / pre["checkpoint"], weights_only=True)["model"]
    after = torch.load(cwd / post["checkpoint"], weights_only=True)["model"]
    inner = {k[len("backbone.inner."):]: v for k, v in after.items() if k.startswith("backbone.inner.")}
    assert inner and all(torch.equal(v, before[f"backbone.{k}"]) for k, v in inner.items())  # frozen
    assert not torch.equal(after["head.fc.weight"], before["head.fc.weight"])
    text = torchrack("runs", "show", post["run_id"], cwd=cwd).stdout
    assert f"model.backbone pre-trained in run {pre['run_id']} (its checkpoint of epoch 1" in text
    # The shown config (with run and the filled path) runs again as it is.
    again = torchrack("runs", "show", post["run_id"], "--config", cwd=cwd).stdout
    (cwd / "again.toml").write_text(again)
    assert torchrack("validate", "again.toml", cwd=cwd).returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize(("ref", "extra", "needle"), [
    ("99", "", "model.backbone.params.run = '99': no run '99'"),
    ("RUN", ', path = "elsewhere.pt"', "give run or path, not both"),
])
def test_a_bad_run_reference_is_named_and_nothing_is_recorded(
        pretrained: tuple[Path, dict[str, Any]], ref: str, extra: str, needle: str) -> None:
    cwd, pre = pretrained
    count = len(json.loads(torchrack("runs", "list", "--json", cwd=cwd).stdout))
    text = TRANSFER.replace('run = "RUN"', f'run = "{ref}"{extra}').replace("RUN", pre["run_id"])
    (cwd / "bad.toml").write_text(text)
    proc = torchrack("run", "bad.toml", cwd=cwd)
    assert proc.returncode == 1 and needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(json.loads(torchrack("runs", "list", "--json", cwd=cwd).stdout)) == count


@pytest.mark.slow
def test_a_run_whose_backbone_keeps_its_feature_map_transfers_through_an_adapter(tmp_path: Path) -> None:
    # The transfer example's shape: small_cnn with pool = false gives [N, F, h, w]; the checkpoint
    # backbone wrapping it gives the same map (its output spec once said [N, F] only, and the
    # contract check refused every such run), which the flatten adapter turns into features.
    feature_map = 'params = { in_channels = 1, widths = [8, 16], pool = false, pool_after = [0] } }'
    pre = PRE.replace("params = { in_channels = 1, widths = [8, 16] } }",
                      feature_map + '\nadapter = { name = "flatten" }')
    (tmp_path / "pre.toml").write_text(pre)
    proc = torchrack("run", "pre.toml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_id = _show(tmp_path)["run_id"]
    post = TRANSFER.replace("RUN", run_id).replace("freeze = true } }", 'freeze = true } }\nadapter = { name = "flatten" }')
    (tmp_path / "post.toml").write_text(post)
    proc = torchrack("validate", "post.toml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # Without the adapter the map meets the head's [N, F]: refused before anything runs, and the
    # error proposes the adapter lines.
    (tmp_path / "bare.toml").write_text(TRANSFER.replace("RUN", run_id))
    proc = torchrack("validate", "bare.toml", cwd=tmp_path)
    assert proc.returncode != 0 and "[model.adapter]" in proc.stderr, proc.stderr
