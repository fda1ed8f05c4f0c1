"""End to end: an image folder trains through the streaming path (DataLoader workers), with the
same batches, metrics and resume as the in-memory path; its content hash and the libraries its
distribution wraps are recorded and locked; bad folders are clear errors with nothing recorded."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from torchrack.contracts import validate

from ._cli import torchrack

#: The shared contracts a test here relies on (docs/transfer.md): ``data.workers`` and
#: ``data.stream`` in experiment configs, ``wraps`` and ``data_sha256`` in run records.

CONFIG = """\
schema_version = 1

[run]
name = "folder"
seed = 3
epochs = {epochs}

[data]
dataset = {{ name = "image_folder", params = {{ root = "{root}", size = 12 }} }}
batch_size = 8

[[augment]]
name = "random_resized_crop"
params = {{ size = 10, scale = [0.5, 1.0] }}

[model]
backbone = {{ name = "small_cnn", params = {{ in_channels = 3, widths = [8, 16] }} }}
head = {{ name = "linear", params = {{ in_features = 16, num_classes = 3 }} }}

[loss]
name = "cross_entropy"

[optimizer]
name = "sgd"
params = {{ lr = 0.05, momentum = 0.9 }}

[[metrics]]
name = "accuracy"
"""


def image_folder(root: Path, per_class: int = 20, size: int = 12) -> Path:
    """Three classes of seeded tiny PNGs, each class with its own mean colour (learnable)."""
    rng = np.random.default_rng(0)
    for k, cls in enumerate(("ants", "bees", "wasps")):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            base = np.zeros((size, size, 3))
            base[..., k] = 180
            pixels = np.clip(base + rng.normal(0, 40, size=(size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i:03d}.png")
    return root


def config(tmp: Path, root: Path, epochs: int = 2, extra: str = "") -> Path:
    path = tmp / "exp.toml"
    path.write_text(CONFIG.format(root=root, epochs=epochs) + extra)
    return path


def record(cwd: Path, ref: str = "latest", env: dict[str, str] | None = None) -> dict[str, Any]:
    shown = torchrack("runs", "show", ref, "--json", cwd=cwd, env=env)
    assert shown.returncode == 0, shown.stderr
    data: dict[str, Any] = json.loads(shown.stdout)
    return data


@pytest.mark.slow
def test_streamed_batches_equal_the_in_memory_ones_at_any_worker_count(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "images")
    exp = config(tmp_path, root)
    runs = []
    for extra in (["data.stream=false"], ["data.workers=0"], ["data.workers=2"]):
        proc = torchrack("run", str(exp), *sum((["--set", s] for s in extra), []), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        runs.append(record(tmp_path))
    in_memory, streamed, workers = runs
    assert validate("run-record", workers) == []
    assert workers["resolved_config"]["data"]["workers"] == 2
    for other in (streamed, workers):
        assert [e["metrics"] for e in other["epochs"]] == [e["metrics"] for e in in_memory["epochs"]]
    assert workers["final_metrics"]["accuracy"] > 0.5  # three colours, two epochs


_KILLER = '''
import os, signal
from torchrack import hookimpl

@hookimpl
def torchrack_train_step_end(run, epoch, step, loss):
    if os.environ.get("KILL_AT_EPOCH") == str(epoch) and step == 3:
        os.kill(os.getpid(), signal.SIGKILL)
'''


@pytest.mark.slow
def test_a_streamed_run_killed_mid_epoch_resumes_to_the_same_metrics(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "stream_killer").mkdir(parents=True)
    (site / "stream_killer" / "__init__.py").write_text(_KILLER)
    (site / "stream_killer" / "torchrack-manifest.json").write_text(json.dumps(
        {"manifest_version": 1, "api": ">=1,<2", "components": {},
         "hooks": {"killer": {"summary": "SIGKILLs the run at a chosen epoch (tests)"}}}))
    info = site / "stream_killer-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: stream-killer\nVersion: 1.0\nRequires-Dist: torchrack>=0.1\n")
    (info / "entry_points.txt").write_text("[torchrack.hooks]\nkiller = stream_killer\n")
    (info / "RECORD").write_text("")
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)}
    exp = config(tmp_path, image_folder(tmp_path / "images"), epochs=3,
                 extra='\n[[trackers]]\nname = "killer"\n')
    common = ["run", str(exp), "--set", "data.workers=2"]
    whole = torchrack(*common, cwd=tmp_path, env=env)
    assert whole.returncode == 0, whole.stderr
    killed = torchrack(*common, cwd=tmp_path, env={**env, "KILL_AT_EPOCH": "1"})
    assert killed.returncode == -9, killed.stderr
    resumed = torchrack(*common, "--resume", "2", cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming run 2 at epoch 2/3" in resumed.stderr
    a, b = record(tmp_path, "1", env), record(tmp_path, "2", env)
    assert b["status"] == "completed" and a["final_metrics"] == b["final_metrics"]


@pytest.mark.slow
def test_the_lock_pins_the_folder_content_and_the_wrapped_libraries(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "images", per_class=6)
    exp = config(tmp_path, root, epochs=1)
    lock = tmp_path / "exp.lock"
    proc = torchrack("lock", str(exp), "-o", str(lock), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    locked = {c["role"]: c for c in json.loads(lock.read_text())["components"]}
    data = locked["data.dataset"]
    assert len(data["data_sha256"]["root"]) == 64
    from importlib.metadata import version

    pillow = next(name for name in data["wraps"] if name.lower() == "pillow")  # as Pillow names itself
    assert data["wraps"][pillow] == version("Pillow") and data["wraps"]["numpy"] == version("numpy")
    assert "torch" not in data["wraps"] and "torchrack" not in data["wraps"]
    proc = torchrack("run", str(exp), "--locked", str(lock), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr

    # One changed image: the folder is no longer the locked one.
    with Image.open(root / "bees" / "002.png") as img:
        img.rotate(90).save(root / "bees" / "002.png")
    proc = torchrack("run", str(exp), "--locked", str(lock), "--store", str(tmp_path / "s2"), cwd=tmp_path)
    assert proc.returncode == 1
    assert "data.dataset (dataset image_folder): data of params.root changed" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "s2").exists()

    # A wrapped library at another version (the lock was taken elsewhere).
    entry = json.loads(lock.read_text())
    next(c for c in entry["components"] if c["role"] == "data.dataset")["wraps"][pillow] = "9.1.0"
    lock.write_text(json.dumps(entry))
    proc = torchrack("run", str(exp), "--locked", str(lock), "--store", str(tmp_path / "s3"), cwd=tmp_path)
    assert proc.returncode == 1
    assert f"library {pillow} locked 9.1.0, installed {version('Pillow')}" in proc.stderr
    assert not (tmp_path / "s3").exists()


@pytest.mark.slow
def test_the_record_names_the_folder_hash_and_the_wrapped_libraries(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "images", per_class=6)
    proc = torchrack("run", str(config(tmp_path, root, epochs=1)), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = record(tmp_path)
    assert validate("run-record", rec) == []
    data = next(c for c in rec["components"] if c["role"] == "data.dataset")
    assert len(data["data_sha256"]["root"]) == 64 and "pillow" in {k.lower() for k in data["wraps"]}


def _expect_clean_failure(proc: Any, tmp_path: Path, *needles: str) -> None:
    assert proc.returncode in (1, 2), proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "epoch 1/" not in proc.stderr
    assert not (tmp_path / ".torchrack").exists()  # nothing recorded


def test_an_unreadable_image_is_named_and_nothing_is_recorded(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "images", per_class=6)
    bad = root / "ants" / "003.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    proc = torchrack("run", str(config(tmp_path, root, epochs=1)), "--set", "data.dataset.params.test_fraction=0",
                     cwd=tmp_path)
    _expect_clean_failure(proc, tmp_path, str(bad), "cannot be decoded")


def test_a_folder_without_images_is_named_and_nothing_is_recorded(tmp_path: Path) -> None:
    root = tmp_path / "images"
    (root / "empty_class").mkdir(parents=True)
    proc = torchrack("run", str(config(tmp_path, root, epochs=1)), cwd=tmp_path)
    _expect_clean_failure(proc, tmp_path, str(root / "empty_class"), "holds no images")
    proc = torchrack("run", str(config(tmp_path, tmp_path / "missing", epochs=1)), cwd=tmp_path)
    _expect_clean_failure(proc, tmp_path, f"{tmp_path / 'missing'}: does not exist")


def test_a_worker_failure_comes_back_as_the_datasets_message(tmp_path: Path) -> None:
    import torch
    from torchrack import Registry
    from torchrack_runs._stream import Streamed, StreamError

    root = image_folder(tmp_path / "images", per_class=4, size=6)
    bad = root / "wasps" / "001.png"
    bad.write_bytes(b"GIF89a broken")
    dataset = Registry.discover().get("dataset", "image_folder")(root=str(root), size=6, test_fraction=0)

    class _Slot:
        key, info, ref = "data.dataset", None, {"name": "image_folder"}

    streamed = Streamed(_Slot(), dataset, "train", "train", workers=1, pin_memory=False)  # type: ignore[arg-type]
    with pytest.raises(StreamError) as info:
        list(streamed.train_batches(torch.arange(12), 4, 3, lambda idx: idx, 0))
    assert str(bad) in str(info.value) and "Traceback" not in str(info.value)
    batches = list(streamed.train_batches(torch.arange(8), 4, 2, lambda idx: idx, 0))
    samples = [dataset.stream("train")[i] for i in range(8)]  # the good files, read one by one
    assert torch.equal(torch.cat([b[0] for b in batches]), torch.stack([s[0] for s in samples]))
    assert torch.cat([b[1] for b in batches]).tolist() == [s[1] for s in samples]


# -- Hugging Face backbones (torchrack-hf) on an image folder -------------------------------------

HF_CONFIG = """\
schema_version = 1

[run]
name = "hf-{kind}"
epochs = 1

[data]
dataset = {{ name = "image_folder", params = {{ root = "{root}", size = 16 }} }}
batch_size = 8

[model]
backbone = {{ name = "hf_vision", params = {{ model = "{model}" }} }}
head = {{ name = "linear", params = {{ in_features = "auto", num_classes = 3 }} }}

[loss]
name = "cross_entropy"

[optimizer]
name = "adamw"
params = {{ lr = 0.003 }}

[[metrics]]
name = "accuracy"
"""


def tiny_hf_model(kind: str, folder: Path) -> Path:
    transformers = pytest.importorskip("transformers", reason="the hf_vision tests need transformers "
                                       "(requirements-dev.txt installs it)")
    import torch

    if kind == "resnet":
        config = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1])
    else:
        config = transformers.ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                        intermediate_size=32, image_size=16, patch_size=8)
    torch.manual_seed(0)
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["resnet", "vit"])
def test_a_tiny_hf_model_trains_an_epoch_on_an_image_folder(tmp_path: Path, kind: str) -> None:
    from importlib.metadata import version

    model = tiny_hf_model(kind, tmp_path / kind)
    root = image_folder(tmp_path / "images", per_class=8, size=20)
    exp = tmp_path / "hf.toml"
    exp.write_text(HF_CONFIG.format(kind=kind, root=root, model=model))
    lock = tmp_path / "hf.lock"
    proc = torchrack("lock", str(exp), "-o", str(lock), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    backbone = next(c for c in json.loads(lock.read_text())["components"] if c["role"] == "model.backbone")
    assert backbone["wraps"]["transformers"] == version("transformers")
    assert len(backbone["data_sha256"]["model"]) == 64  # the model folder: its weights pinned too
    proc = torchrack("run", str(exp), "--locked", str(lock), cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "epoch 1/1" in proc.stderr
    rec = record(tmp_path)
    assert rec["status"] == "completed" and validate("run-record", rec) == []
    assert rec["resolved_config"]["model"]["head"]["params"]["in_features"] == 16  # "auto", bound
    recorded = next(c for c in rec["components"] if c["role"] == "model.backbone")
    assert recorded["wraps"]["transformers"] == version("transformers")


@pytest.mark.parametrize("change,needle", [
    ("missing", "does not exist; give the folder that save_pretrained wrote"),
    ("remote", "remote code is refused"),
    ("hub", "is neither a local folder nor in the local hub cache"),
])
def test_a_bad_hf_model_is_a_clear_error_and_nothing_is_recorded(tmp_path: Path, change: str, needle: str) -> None:
    model = tiny_hf_model("resnet", tmp_path / "resnet")
    name = str(model)
    if change == "missing":
        name = str(tmp_path / "no-such-model")
    elif change == "remote":
        cfg = json.loads((model / "config.json").read_text())
        cfg["auto_map"] = {"AutoModel": "acme.Model"}
        (model / "config.json").write_text(json.dumps(cfg))
    else:
        name = "acme/not-cached"
    exp = tmp_path / "hf.toml"
    exp.write_text(HF_CONFIG.format(kind="bad", root=image_folder(tmp_path / "images", per_class=3), model=name))
    proc = torchrack("run", str(exp), cwd=tmp_path, env={"HF_HUB_CACHE": str(tmp_path / "hub")})
    _expect_clean_failure(proc, tmp_path, needle)
