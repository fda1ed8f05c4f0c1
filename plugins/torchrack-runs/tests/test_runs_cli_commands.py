"""`torchrack runs list|show|compare|plot` through torchrack.cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from torchrack.cli import main
from torchrack_runs._store import RunStore

from ._store_helpers import SECRET, assert_valid, make_record


def _finished(store: RunStore, *, lr: float = 0.01, accuracy: float = 0.97, ece: float = 0.02,
              backbone_version: str = "1.0.0", name: str = "digits") -> str:
    rid = store.create_run(make_record(name, lr=lr, backbone_version=backbone_version))
    for epoch in range(3):
        store.add_epoch(rid, epoch, {"train_loss": 1.0 / (epoch + 1), "accuracy": accuracy - 0.1 * (2 - epoch)})
    store.finish_run(rid, "completed", {"accuracy": accuracy, "ece": ece}, None, {"train_seconds": 3.0})
    return rid


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.sqlite")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list(store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "runs", "list", "--store", str(store.path))
    assert code == 0 and "no runs recorded" in out
    _finished(store)
    store.create_run(make_record("second"))
    code, out, _ = _run(capsys, "runs", "--store", str(store.path), "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "STATUS"]
    assert lines[1].split()[:3] == ["2", "second", "running"]
    assert lines[2].split()[:3] == ["1", "digits", "completed"] and "accuracy=0.97" in lines[2]
    code, out, _ = _run(capsys, "runs", "list", "--json", "--limit", "1", "--store", str(store.path))
    assert [r["run_id"] for r in json.loads(out)] == ["2"]


def test_show_json_is_the_record(store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    rid = _finished(store)
    code, out, _ = _run(capsys, "runs", "show", "latest", "--json", "--store", str(store.path))
    assert code == 0
    record = json.loads(out)
    assert record == store.get(rid)
    assert_valid("run-record", record)


def test_show_human(store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    rid = _finished(store)
    code, out, _ = _run(capsys, "runs", "show", rid, "--store", str(store.path))
    assert code == 0
    assert out.startswith(f"run {rid}: digits  [completed]")
    for fragment in ("components:", "small_cnn", "optimizer.params.lr", "augment[0].name",
                     "epochs:", "final metrics:", "accuracy"):
        assert fragment in out


def test_secret_not_in_show_output(store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    rid = _finished(store)
    for extra in ([], ["--json"]):
        code, out, err = _run(capsys, "runs", "show", rid, *extra, "--store", str(store.path))
        assert code == 0 and SECRET not in out + err
        assert "***" in out
    code, out, err = _run(capsys, "runs", "compare", rid, rid, "--store", str(store.path))
    assert SECRET not in out + err


def test_unknown_run_is_a_clear_error(store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    _finished(store)
    code, out, err = _run(capsys, "runs", "show", "12", "--store", str(store.path))
    assert code == 1 and out == ""
    assert "no run '12'" in err and str(store.path) in err and "latest runs: 1" in err
    assert "Traceback" not in err


def test_missing_store_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "missing.sqlite"
    for action in (["list"], ["show", "latest"], ["compare", "1", "2"], ["plot", "1", "-o", "x.png"]):
        code, _, err = _run(capsys, "runs", *action, "--store", str(missing))
        assert code == 1 and "no run store at" in err and "--store" in err
    monkeypatch.setenv("TORCHRACK_STORE", str(missing))
    code, _, err = _run(capsys, "runs", "list")
    assert code == 1 and str(missing) in err
    assert not missing.exists()


def test_compare_shows_changed_param_and_metric(store: RunStore,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    a = _finished(store, lr=0.01, accuracy=0.97)
    b = _finished(store, lr=0.001, accuracy=0.95, backbone_version="1.1.0")
    code, out, _ = _run(capsys, "runs", "compare", a, b, "--store", str(store.path))
    assert code == 0
    assert f"comparing runs {a}, {b}" in out
    lines = out.splitlines()
    lr = next(line for line in lines if "optimizer.params.lr" in line)
    assert lr.split() == ["optimizer.params.lr", "0.01", "0.001"]
    acc = next(line for line in lines if line.strip().startswith("accuracy"))
    assert acc.split() == ["accuracy", "0.97", "0.95"]
    assert any(line.split() == ["model.backbone.version", "1.0.0", "1.1.0"] for line in lines)
    assert "no differences in environment" in out and "no differences in seed" in out
    assert "no differences in metrics" not in out
    assert not any(line.strip().startswith("ece") for line in lines)  # equal: not listed

    code, out, _ = _run(capsys, "runs", "compare", a, b, "--json", "--store", str(store.path))
    data = json.loads(out)
    assert data["runs"] == [a, b]
    assert data["differences"]["config"] == {"optimizer.params.lr": [0.01, 0.001]}
    assert data["differences"]["metrics"] == {"accuracy": [0.97, 0.95]}
    assert data["same"]["environment"] and not data["same"]["metrics"]


def test_compare_equal_metrics(store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    a = _finished(store)
    b = _finished(store)
    c = _finished(store, lr=0.5)
    code, out, _ = _run(capsys, "runs", "compare", a, b, "latest", "--store", str(store.path))
    assert code == 0
    assert "no differences in metrics" in out
    lr = next(line for line in out.splitlines() if "optimizer.params.lr" in line)
    assert lr.split() == ["optimizer.params.lr", "0.01", "0.01", "0.5"]
    assert c == "3"


def test_compare_needs_two_runs(store: RunStore, capsys: pytest.CaptureFixture[str]) -> None:
    a = _finished(store)
    code, _, err = _run(capsys, "runs", "compare", a, "--store", str(store.path))
    assert code == 1 and "two or more runs" in err


def test_plot_writes_png(store: RunStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="runs plot needs the optional extra torchrack[plot]")
    a = _finished(store)
    b = _finished(store, accuracy=0.9)
    out_png = tmp_path / "figs" / "curves.png"
    code, out, err = _run(capsys, "runs", "plot", a, b, "-o", str(out_png), "--store", str(store.path))
    assert code == 0, err
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "train_loss" in out and "accuracy" in out
    one = tmp_path / "one.png"
    code, out, err = _run(capsys, "runs", "plot", a, "-o", str(one), "--metric", "accuracy",
                          "--store", str(store.path))
    assert code == 0 and one.stat().st_size > 0
    code, _, err = _run(capsys, "runs", "plot", a, "-o", str(one), "--metric", "f1",
                        "--store", str(store.path))
    assert code == 1 and "'f1'" in err and "train_loss" in err


def test_plot_without_matplotlib(store: RunStore, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    a = _finished(store)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, _, err = _run(capsys, "runs", "plot", a, "-o", str(tmp_path / "x.png"), "--store", str(store.path))
    assert code == 1 and "pip install 'torchrack[plot]'" in err
