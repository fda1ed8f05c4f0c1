"""image_folder: real PNG/JPEG files written with Pillow, read back through the registry; the
split, the decoding, streaming through DataLoader workers, and the errors that name the file."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torchrack import Registry, TorchrackError
from torchrack.contract import check_tensors
from torchrack.contracts import params_with_defaults, validate_params
from torchrack_datasets import DatasetFileError, DatasetParamError, ImageFileError

CLASSES = ("cat", "dog", "eel")


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.discover(use_cache=False)


def make(registry: Registry, **params: Any) -> Any:
    comp = registry.resolve("dataset", "torchrack-datasets:image_folder")
    assert not validate_params(comp.params_schema, params)
    return registry.load(comp)(**params_with_defaults(comp.params_schema, params))


def write_folder(root: Path, per_class: int = 10, size: tuple[int, int] = (8, 8)) -> dict[str, np.ndarray]:
    """``root/<class>/<i>.png`` (and one JPEG per class), each image a seeded random RGB array;
    returns relative path -> the array written (for the lossless PNGs)."""
    rng = np.random.default_rng(0)
    written: dict[str, np.ndarray] = {}
    for cls in reversed(CLASSES):  # created out of order: the classes are still sorted by name
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            array = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(array).save(root / cls / f"{i:02d}.png")
            written[f"{cls}/{i:02d}.png"] = array
        Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)).save(
            root / cls / "photo.JPG", quality=90)
    return written


def test_classes_labels_and_a_seeded_stratified_split(registry: Registry, tmp_path: Path) -> None:
    write_folder(tmp_path)
    ds = make(registry, root=str(tmp_path), size=8, test_fraction=0.25, split_seed=3)
    assert ds.classes == list(CLASSES) and ds.num_classes == 3 and ds.splits == ("train", "test")
    x_tr, y_tr = ds.load("train")
    x_te, y_te = ds.load("test")
    assert len(y_tr) + len(y_te) == 33
    assert torch.bincount(y_te).tolist() == [3, 3, 3]  # round(11 * 0.25) of each class
    again = make(registry, root=str(tmp_path), size=8, test_fraction=0.25, split_seed=3)
    assert torch.equal(again.load("test")[0], x_te)
    other = make(registry, root=str(tmp_path), size=8, test_fraction=0.25, split_seed=4)
    assert not torch.equal(other.load("test")[0], x_te)
    comp = registry.resolve("dataset", "torchrack-datasets:image_folder")
    params = params_with_defaults(comp.params_schema, {"root": str(tmp_path), "size": 8})
    assert not check_tensors(comp.outputs, [x_tr, y_tr], params=params, who="image_folder")
    only = make(registry, root=str(tmp_path), size=8, test_fraction=0)
    assert only.splits == ("train",) and len(only.load("train")[1]) == 33


def test_png_pixels_come_back_exactly(registry: Registry, tmp_path: Path) -> None:
    written = write_folder(tmp_path, per_class=2)
    ds = make(registry, root=str(tmp_path), size=8, test_fraction=0)
    stream = ds.stream("train")
    for i, path in enumerate(stream.files):
        rel = Path(path).relative_to(tmp_path).as_posix()
        if rel in written:  # PNG is lossless: the bytes written, in [C, H, W], scaled to [0, 1]
            expected = torch.from_numpy(written[rel]).permute(2, 0, 1).float() / 255
            assert torch.equal(stream[i][0], expected), rel
        assert stream[i][1] == CLASSES.index(rel.split("/")[0])
    uint8 = make(registry, root=str(tmp_path), size=8, test_fraction=0, dtype="uint8").load("train")[0]
    assert uint8.dtype == torch.uint8 and torch.equal(uint8.float() / 255, ds.load("train")[0])


def test_resizing_and_grayscale_follow_pillow(registry: Registry, tmp_path: Path) -> None:
    write_folder(tmp_path, per_class=1, size=(12, 6))
    path = tmp_path / "cat" / "00.png"
    with Image.open(path) as img:
        stretched = np.asarray(img.convert("RGB").resize((4, 4), Image.Resampling.BILINEAR))
        gray = np.asarray(img.convert("L").resize((4, 4), Image.Resampling.BILINEAR))
        fitted = img.convert("RGB").resize((8, 4), Image.Resampling.BILINEAR)  # shorter side to 4
    ds = make(registry, root=str(tmp_path), size=4, test_fraction=0, dtype="uint8")
    index = ds.stream("train").files.index(str(path))
    assert torch.equal(ds.load("train")[0][index], torch.from_numpy(stretched.copy()).permute(2, 0, 1))
    ds_l = make(registry, root=str(tmp_path), size=4, test_fraction=0, dtype="uint8", mode="L")
    assert torch.equal(ds_l.load("train")[0][index], torch.from_numpy(gray.copy()).unsqueeze(0))
    ds_c = make(registry, root=str(tmp_path), size=4, test_fraction=0, dtype="uint8", resize="crop")
    out = ds_c.load("train")[0][index]
    assert out.shape == (3, 4, 4)
    # ImageOps.fit keeps the aspect ratio: the result is close to the middle of the fitted image
    middle = torch.from_numpy(np.asarray(fitted).copy()).permute(2, 0, 1)[:, :, 2:6].float()
    assert float((out.float() - middle).abs().mean()) < 20


def test_hidden_entries_other_files_and_nested_folders(registry: Registry, tmp_path: Path) -> None:
    write_folder(tmp_path, per_class=2)
    (tmp_path / "cat" / ".hidden.png").write_bytes(b"not an image")
    (tmp_path / "cat" / "notes.txt").write_text("ignored")
    (tmp_path / ".cache").mkdir()
    (tmp_path / "dog" / "more").mkdir()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "dog" / "more" / "deep.png")
    ds = make(registry, root=str(tmp_path), size=8, test_fraction=0)
    assert ds.classes == list(CLASSES)
    assert torch.bincount(ds.load("train")[1]).tolist() == [3, 4, 3]


def test_stream_is_lazy_picklable_and_equals_load_through_workers(registry: Registry, tmp_path: Path) -> None:
    write_folder(tmp_path, per_class=4)
    ds = make(registry, root=str(tmp_path), size=8, test_fraction=0.25)
    stream = ds.stream("train")
    assert isinstance(stream, torch.utils.data.Dataset) and len(stream) == len(ds.load("train")[1])
    clone = pickle.loads(pickle.dumps(stream))
    assert torch.equal(clone[3][0], stream[3][0])
    loader = torch.utils.data.DataLoader(stream, batch_size=4, num_workers=2)
    xs, ys = zip(*loader, strict=True)
    x, y = ds.load("train")
    assert torch.equal(torch.cat(xs), x) and torch.equal(torch.cat(ys), y)


def test_an_unreadable_file_is_named(registry: Registry, tmp_path: Path) -> None:
    write_folder(tmp_path, per_class=2)
    bad = tmp_path / "dog" / "01.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    ds = make(registry, root=str(tmp_path), size=8, test_fraction=0)
    with pytest.raises(ImageFileError, match=str(bad)) as info:
        ds.load("train")
    assert info.value.path == bad and "Pillow" in str(info.value) and "remove it" in str(info.value)
    stream = ds.stream("train")
    with pytest.raises(ImageFileError, match=str(bad)):
        stream[stream.files.index(str(bad))]


def test_folders_without_images_are_errors_naming_them(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(DatasetFileError, match=f"{tmp_path / 'nope'}: does not exist"):
        make(registry, root=str(tmp_path / "nope"))
    with pytest.raises(DatasetFileError, match="no class sub-folders"):
        make(registry, root=str(tmp_path))
    Image.new("RGB", (4, 4)).save(tmp_path / "loose.png")
    with pytest.raises(DatasetFileError, match="holds 1 images directly: move them into one sub-folder per class"):
        make(registry, root=str(tmp_path))
    (tmp_path / "a").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "x.png")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetFileError, match=f"{tmp_path / 'b'}: class folder 'b' holds no images") as info:
        make(registry, root=str(tmp_path))
    assert isinstance(info.value, TorchrackError)


@pytest.mark.parametrize("params,match", [
    ({"size": 0}, "size must be an integer >= 1"),
    ({"test_fraction": 1.0}, "test_fraction"),
    ({"mode": "CMYK"}, "mode must be one of"),
    ({"resize": "pad"}, "resize must be one of"),
])
def test_bad_params(registry: Registry, tmp_path: Path, params: dict[str, Any], match: str) -> None:
    write_folder(tmp_path, per_class=1)
    cls = registry.get("dataset", "torchrack-datasets:image_folder")
    with pytest.raises(DatasetParamError, match=match):
        cls(root=str(tmp_path), **params)
