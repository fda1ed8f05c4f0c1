"""``sweep show`` (points by objective, mean +- std over seeds, ``--best-config``), ``sweep ablation``
(each factor one at a time from the best point) and ``sweep plot``: on tables of trials, and
end to end on a small backbone x augmentation sweep."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from torchrack_runs._sweep_results import ablation, point_rows
from torchrack_runs._toml import toml_loads

from ._cli import torchrack
from ._sweep_helpers import show_json, sweep_file


def _trial(n: int, index: int, point: dict[str, Any], seed: int, objective: float | None,
           status: str = "completed") -> dict[str, Any]:
    return {"trial": n, "point_index": index, "point": point, "seed": seed, "status": status,
            "objective": objective, "run_id": str(n)}


A = {"net": "cnn", "aug": True}
B = {"net": "cnn", "aug": False}
C = {"net": "mlp", "aug": True}
D = {"net": "mlp", "aug": False}
TRIALS = [
    _trial(1, 0, A, 0, 0.90), _trial(2, 0, A, 1, 0.94),
    _trial(3, 1, B, 0, 0.88), _trial(4, 1, B, 1, 0.86),
    _trial(5, 2, C, 0, 0.70), _trial(6, 2, C, 1, None, status="failed"),
    _trial(7, 3, D, 0, 0.72), _trial(8, 3, D, 1, 0.50, status="pruned"),
]


def test_points_are_sorted_by_mean_objective_with_the_seed_spread() -> None:
    rows = point_rows(TRIALS, "maximize")
    assert [r["point"] for r in rows] == [A, B, D, C]
    top = rows[0]
    assert top["mean"] == pytest.approx(0.92) and top["std"] == pytest.approx(statistics.stdev([0.90, 0.94]))
    assert top["n"] == 2 and top["best_run"] == "2" and top["trials"] == [1, 2]
    # A failed seed and a pruned one count for neither the mean nor the spread.
    c, d = rows[3], rows[2]
    assert (c["n"], c["mean"], c["std"], c["statuses"]) == (1, 0.70, 0.0, {"completed": 1, "failed": 1})
    assert (d["n"], d["mean"], d["statuses"]) == (1, 0.72, {"completed": 1, "pruned": 1})
    assert [r["point"] for r in point_rows(TRIALS, "minimize")] == [C, D, B, A]


def test_a_point_without_a_completed_seed_comes_last() -> None:
    trials = [_trial(1, 0, A, 0, None, "failed"), _trial(2, 1, B, 0, 0.1)]
    rows = point_rows(trials, "maximize")
    assert [r["point"] for r in rows] == [B, A] and rows[1]["mean"] is None


def test_ablation_moves_one_factor_at_a_time_from_the_best_point() -> None:
    result = ablation(TRIALS, ["net", "aug"], "maximize")
    assert result["best"]["point"] == A
    by_key = {f["key"]: f for f in result["factors"]}
    net = by_key["net"]
    assert [lv["value"] for lv in net["levels"]] == ["cnn", "mlp"]
    assert net["levels"][0]["is_best"] and net["levels"][1]["delta"] == pytest.approx(0.70 - 0.92)
    aug = by_key["aug"]
    assert [lv["value"] for lv in aug["levels"]] == [True, False]
    assert aug["levels"][1]["mean"] == pytest.approx(0.87)
    assert aug["levels"][1]["std"] == pytest.approx(statistics.stdev([0.88, 0.86]))
    # The backbone matters more here: it comes first.
    assert [f["key"] for f in result["factors"]] == ["net", "aug"]
    assert net["range"] == pytest.approx(0.22) and aug["range"] == pytest.approx(0.05)
    assert ablation([], ["net"], "maximize") == {"best": None, "factors": []}


ABLATION = """
[sweep]
objective = "accuracy"
seeds = [0, 1]
[sweep.space]
"model.backbone" = [
    { name = "mlp", params = { in_channels = 1, widths = [64] } },
    { name = "small_cnn", params = { in_channels = 1, widths = [16, 64] } },
]
augment = [[{ name = "random_translate", params = { max_shift = 1 } }], []]
"""


@pytest.fixture(scope="module")
def ablation_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("ablation")
    proc = torchrack("sweep", str(sweep_file(cwd, ABLATION)), "--jobs", "2", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd


@pytest.mark.slow
def test_show_lists_points_best_first_with_mean_and_std(ablation_sweep: Path) -> None:
    sweep = show_json(ablation_sweep)
    points = sweep["points"]
    means = [p["mean"] for p in points]
    assert means == sorted(means, reverse=True) and len(points) == 4
    for p in points:
        values = [t["objective"] for t in sweep["trials"] if t["point_index"] == p["point_index"]]
        assert p["mean"] == pytest.approx(statistics.fmean(values))
        assert p["std"] == pytest.approx(statistics.stdev(values))
    assert sweep["best"]["point"] == points[0]["point"]
    proc = torchrack("sweep", "show", "latest", cwd=ablation_sweep)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "ACCURACY (MEAN +- STD)" in lines[1]
    assert lines[2].startswith("1  ") and f"{points[0]['mean']:.4f} +- {points[0]['std']:.4f}" in lines[2]
    assert "best: model.backbone = " in proc.stdout
    listed = torchrack("sweep", "list", cwd=ablation_sweep)
    assert listed.returncode == 0 and "8/8 done, 0 failed" in listed.stdout


@pytest.mark.slow
def test_best_config_is_a_runnable_toml_that_reproduces_the_best_run(ablation_sweep: Path,
                                                                     tmp_path: Path) -> None:
    sweep = show_json(ablation_sweep)
    proc = torchrack("sweep", "show", sweep["sweep_id"], "--best-config", cwd=ablation_sweep)
    assert proc.returncode == 0, proc.stderr
    config = toml_loads(proc.stdout)
    assert "sweep" not in config and "base" not in config
    best = sweep["best"]
    assert config["model"]["backbone"] == best["point"]["model.backbone"]
    assert config["augment"] == best["point"]["augment"]
    path = tmp_path / "best.toml"
    path.write_text(proc.stdout, encoding="utf-8")
    run = torchrack("run", str(path), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    record = json.loads(torchrack("runs", "show", "latest", "--json", cwd=tmp_path).stdout)
    best_trial = next(t for t in sweep["trials"] if t["run_id"] == best["run_id"])
    assert record["final_metrics"]["accuracy"] == best_trial["objective"]


@pytest.mark.slow
def test_ablation_shows_each_factor_from_the_best_point(ablation_sweep: Path) -> None:
    proc = torchrack("sweep", "ablation", "latest", "--json", cwd=ablation_sweep)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert sorted(f["key"] for f in result["factors"]) == ["augment", "model.backbone"]
    for factor in result["factors"]:
        assert len(factor["levels"]) == 2 and factor["levels"][0]["is_best"]
        assert all(lv["n"] == 2 and lv["std"] >= 0 for lv in factor["levels"])
    text = torchrack("sweep", "ablation", "latest", cwd=ablation_sweep).stdout
    assert "ablation from the best point" in text and "(best)" in text and "VS BEST" in text
    assert "largest effect: " in text


@pytest.mark.slow
def test_plot_writes_a_png(ablation_sweep: Path) -> None:
    pytest.importorskip("matplotlib")
    out = ablation_sweep / "plots" / "sweep.png"
    proc = torchrack("sweep", "plot", "latest", "-o", str(out), cwd=ablation_sweep)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = torchrack("sweep", "show", "7", cwd=ablation_sweep)
    assert missing.returncode == 1 and "no sweep '7' in the store" in missing.stderr


def test_the_ablation_example_checks_clean_and_has_twelve_trials() -> None:
    from torchrack.plugins import Registry, load_settings
    from torchrack_runs._sweep_check import check_sweep
    from torchrack_runs._sweep_config import load_sweep

    from ._cli import ROOT

    spec = load_sweep(ROOT / "examples" / "ablation.toml")
    points = spec.points()
    assert spec.keys == ["model.backbone", "augment"] and spec.seeds == [0, 1]
    assert [p["model.backbone"]["name"] for p in points] == ["small_cnn"] * 2 + ["mlp"] * 2 + ["resnet"] * 2
    assert [p["augment"] for p in points][:2] == [[{"name": "random_translate", "params": {"max_shift": 1}}], []]
    settings = load_settings()
    assert check_sweep(spec, Registry.discover(settings), settings) == 6
