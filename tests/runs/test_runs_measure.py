"""Measurements (docs/evaluation.md): latency, throughput, memory, FLOPs, energy, as recorded.

Figures are checked against what a user relies on: positive latencies in order, throughput that
grows with the batch size, FLOPs equal to a hand count, joules from powercap counters (a fake
tree whose counters advance, one of them wrapping around), and an ``unavailable`` reason
wherever a figure cannot be read. The end-to-end tests run the real CLI on a small digits model.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch
from torchrack.contracts import load_schema, validate
from torchrack_runs._measure import (
    MIN_TIMED_BATCHES,
    MeasureError,
    MeasureSettings,
    RaplMeter,
    Unavailable,
    flops_per_sample,
    measure_model,
    measure_pipeline,
    parameters,
    percentile,
    settings_from_config,
)
from torchrack_runs._records import READABLE_RECORD_VERSIONS, RECORD_SCHEMA_VERSION

from ._cli import DIGITS, torchrack

FAST = MeasureSettings(("latency", "memory", "flops", "energy"), (1, 8), warmup_batches=2)


def _mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                               torch.nn.Linear(32, 10))


def _samples(n: int = 40) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0))


# -- the figures -----------------------------------------------------------------------------------


def test_percentiles_interpolate_between_sorted_values() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    # sorted 1, 2, 3, 4: the median lies half-way between 2 and 3; p0 and p100 are the ends
    assert percentile(values, 50) == (2.0 + 3.0) / 2
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 4.0
    # p95 sits at position 0.95 * 3 = 2.85: 3 + 0.85 * (4 - 3)
    assert percentile(values, 95) == pytest.approx(3.0 + 0.85 * (4.0 - 3.0))


@pytest.mark.parametrize(("n_in", "n_out"), [(64, 10), (7, 3)])
def test_the_flops_of_a_linear_layer_are_two_per_multiply_add(n_in: int, n_out: int) -> None:
    linear = torch.nn.Linear(n_in, n_out, bias=False)
    for batch in (1, 5):
        assert flops_per_sample(linear, torch.zeros(batch, n_in)) == 2 * n_in * n_out


def test_the_flops_of_a_model_add_up_over_its_layers() -> None:
    assert flops_per_sample(_mlp(), _samples(3)) == 2 * 64 * 32 + 2 * 32 * 10


def test_parameters_are_counted_with_their_bytes() -> None:
    model = _mlp()
    model[1].weight.requires_grad_(False)
    got = parameters(model)
    assert got["count"] == 64 * 32 + 32 + 32 * 10 + 10
    assert got["trainable"] == got["count"] - 64 * 32
    assert got["bytes"] == got["count"] * 4 and got["buffer_bytes"] == 0


def test_latencies_are_positive_and_ordered_and_measuring_changes_nothing() -> None:
    model = _mlp().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    m = measure_model(model, _samples(), FAST, device=torch.device("cpu"))
    assert model.training and torch.equal(rng, torch.get_rng_state())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    lat = m["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert [r["batch_size"] for r in lat["by_batch_size"]] == [1, 8]
    for row in lat["by_batch_size"]:
        assert 0 < row["min"] <= row["p50"] <= row["p95"] <= row["p99"] <= row["max"]
    assert m["throughput_per_s"] == pytest.approx(1000 / lat["mean"])  # batch 1: 1/mean latency
    assert m["flops_per_sample"] == 2 * 64 * 32 + 2 * 32 * 10
    assert m["batch_size"] == 1 and m["device"] == "cpu" and m["torch"] == torch.__version__
    memory = m["peak_memory_bytes"]
    assert (isinstance(memory, int) and memory >= 0) or set(memory) == {"unavailable"}
    assert [r["batch_size"] for r in m["by_batch_size"]] == [1, 8]


def test_a_batch_larger_than_the_split_repeats_its_samples() -> None:
    m = measure_model(_mlp(), _samples(3), MeasureSettings(("latency",), (8,)), device=torch.device("cpu"))
    assert m["latency_ms"]["by_batch_size"][0]["batch_size"] == 8


def test_only_what_is_asked_is_measured() -> None:
    m = measure_model(_mlp(), _samples(), MeasureSettings(("flops",), (2,)), device=torch.device("cpu"))
    assert m["measured"] == ["flops"] and "flops_per_sample" in m and "parameters" in m
    assert not {"latency_ms", "throughput_per_s", "peak_memory_bytes", "energy_j_per_1000"} & set(m)


@pytest.mark.parametrize(("settings", "expected"), [
    (dict(measures=("latncy",)), "cannot measure 'latncy'"),
    (dict(measures=("latency",), batch_sizes=(0,)), "batch sizes must be whole numbers of 1 or more"),
    (dict(measures=("latency",), timed_batches=10), f"at least {MIN_TIMED_BATCHES}"),
    (dict(measures=("latency",), warmup_batches=-1), "warm-up batches must be 0 or more"),
])
def test_bad_settings_say_what_is_expected(settings: dict, expected: str) -> None:
    with pytest.raises(MeasureError, match=expected):
        MeasureSettings(**settings)


def test_the_config_gives_the_settings_and_the_command_line_wins() -> None:
    config = {"evaluate": {"measure": ["energy", "latency"], "batch_sizes": [4, 2], "timed_batches": 60}}
    s = settings_from_config(config)
    assert s.measures == ("latency", "energy") and s.batch_sizes == (4, 2) and s.timed_batches == 60
    s = settings_from_config(config, batch_sizes=(1,), measures=("flops",), timed_batches=None)
    assert s.batch_sizes == (1,) and s.measures == ("flops",) and s.timed_batches == 60
    assert settings_from_config({}).measures == ()


# -- energy from powercap --------------------------------------------------------------------------


def _domain(root: Path, name: str, label: str, energy: int | None, top: int) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "name").write_text(label + "\n")
    (d / "max_energy_range_uj").write_text(f"{top}\n")
    if energy is not None:
        (d / "energy_uj").write_text(f"{energy}\n")
    return d


TOP = 262_143_328_850  # a real package's max_energy_range_uj


def test_rapl_sums_the_package_domains_and_counts_a_wrap_around(tmp_path: Path) -> None:
    a = _domain(tmp_path, "intel-rapl:0", "package-0", TOP - 1_500_000, TOP)
    b = _domain(tmp_path, "intel-rapl:1", "package-1", 10_000_000, TOP)
    _domain(tmp_path, "intel-rapl:0:0", "core", 5, TOP)  # a part of package-0: not added again
    meter = RaplMeter(tmp_path)
    assert meter.describe() == "Intel RAPL (Linux powercap): package-0, package-1"
    before = meter.read()
    (a / "energy_uj").write_text("2500000\n")  # wrapped: 1.5 J up to the top, then 2.5 J
    (b / "energy_uj").write_text("13000000\n")  # 3 J
    assert meter.joules(before, meter.read()) == pytest.approx((TOP - (TOP - 1_500_000) + 2_500_000
                                                                + 13_000_000 - 10_000_000) / 1e6)


class _Burning(torch.nn.Module):
    """The measured model, and the "hardware": every forward pass adds ``per_pass`` microjoules to
    the package counter file, wrapping at its ``max_energy_range_uj``, as RAPL's counter does."""

    def __init__(self, counter: Path, per_pass: int) -> None:
        super().__init__()
        self.inner, self.counter, self.per_pass = _mlp(), counter, per_pass
        self.passes = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = int(self.counter.read_text())
        self.counter.write_text(f"{(value + self.per_pass) % TOP}\n")
        self.passes += 1
        out: torch.Tensor = self.inner(x)
        return out


def test_energy_per_1000_samples_from_counters_that_advance_and_wrap(tmp_path: Path) -> None:
    # 50 timed passes per batch size, 1,000 uJ each; the counter starts 10,000 uJ below the top,
    # so it wraps during the first batch size's passes.
    d = _domain(tmp_path / "powercap", "intel-rapl:0", "package-0", TOP - 10_000, TOP)
    model = _Burning(d / "energy_uj", per_pass=1_000)
    settings = MeasureSettings(("energy",), (1, 4), warmup_batches=0, powercap_root=str(tmp_path / "powercap"))
    m = measure_model(model, _samples(), settings, device=torch.device("cpu"))
    timed = settings.timed_batches
    assert model.passes == 2 * timed  # only the timed passes ran between the readings
    assert int((d / "energy_uj").read_text()) < TOP - 10_000  # it did wrap
    joules = timed * 1_000 / 1e6  # per batch size
    assert m["energy_j_per_1000"] == pytest.approx(joules / (1 * timed) * 1000)  # 1 J per 1000
    assert [r["energy_j_per_1000"] for r in m["by_batch_size"]] == pytest.approx(
        [joules / (1 * timed) * 1000, joules / (4 * timed) * 1000])
    assert m["methods"]["energy"] == "Intel RAPL (Linux powercap): package-0"


def test_without_rapl_the_record_says_why(tmp_path: Path) -> None:
    cpu = torch.device("cpu")
    missing = measure_model(_mlp(), _samples(), MeasureSettings(
        ("energy",), (1,), 0, MIN_TIMED_BATCHES, str(tmp_path / "nope")), device=cpu)
    assert missing["energy_j_per_1000"] == {
        "unavailable": f"{tmp_path / 'nope'} does not exist (no Linux powercap: not Linux, or the "
                       "intel_rapl driver is not loaded)"}
    (tmp_path / "empty").mkdir()
    with pytest.raises(Unavailable, match="has no intel-rapl:N package domain"):
        RaplMeter(tmp_path / "empty")
    broken = _domain(tmp_path / "broken", "intel-rapl:0", "package-0", None, TOP)
    (broken / "energy_uj").mkdir()  # not a file of microjoules
    m = measure_model(_mlp(), _samples(), MeasureSettings(("energy",), (1,), 0, MIN_TIMED_BATCHES,
                                                          str(tmp_path / "broken")), device=cpu)
    assert "energy_uj cannot be read as a number of microjoules" in m["energy_j_per_1000"]["unavailable"]


def test_a_counter_that_does_not_advance_gives_no_number(tmp_path: Path) -> None:
    _domain(tmp_path, "intel-rapl:0", "package-0", 1234, TOP)
    m = measure_model(_mlp(), _samples(), MeasureSettings(("energy",), (1,), 0, MIN_TIMED_BATCHES,
                                                          str(tmp_path)), device=torch.device("cpu"))
    assert "did not advance" in m["energy_j_per_1000"]["unavailable"]


def test_an_unreadable_counter_says_how_to_grant_access(tmp_path: Path) -> None:
    d = _domain(tmp_path, "intel-rapl:0", "package-0", 1, TOP)
    (d / "energy_uj").chmod(0)
    try:
        if os.access(d / "energy_uj", os.R_OK):
            pytest.skip("this user (root) reads files whatever their mode, so none is unreadable")
        with pytest.raises(Unavailable, match="only root may read RAPL counters"):
            RaplMeter(tmp_path).read()
    finally:
        (d / "energy_uj").chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_on_this_machine_energy_is_a_number_or_a_reason() -> None:
    m = measure_model(_mlp(), _samples(), MeasureSettings(("energy",), (1,), 0), device=torch.device("cpu"))
    value = m["energy_j_per_1000"]
    assert (isinstance(value, float) and value > 0) or (set(value) == {"unavailable"} and value["unavailable"])


# -- the digits model ------------------------------------------------------------------------------


def test_throughput_grows_with_the_batch_size_on_the_digits_model() -> None:
    from torchrack_runs import Runner
    from torchrack_runs._build import build

    runner = Runner(DIGITS, ['accelerator={name = "cpu", params = {threads = 1}}'])
    pipe = build(runner.resolved, runner.registry, 0, runner.accelerator())
    x, _ = pipe.dataset.load("test")
    threads = torch.get_num_threads()
    pipe.accelerator.setup()  # one thread: a busy machine's other processes cannot stall a second one
    try:
        m = measure_pipeline(pipe, x, MeasureSettings(("latency",), (1, 64), warmup_batches=3),
                             source="eval", split="test", epoch=None)
    finally:
        pipe.accelerator.teardown()
        torch.set_num_threads(threads)
    by = {r["batch_size"]: r["throughput_per_s"] for r in m["by_batch_size"]}
    assert by[64] > by[1] > 0
    assert m["threads"] == 1 and m["parameters"]["count"] == sum(p.numel() for p in pipe.model.parameters())
    assert validate("run-record", _record_with(m)) == []


# -- the record ------------------------------------------------------------------------------------


def _record_with(measurements: dict) -> dict:
    sha = "0" * 64
    return {"schema_version": RECORD_SCHEMA_VERSION, "run_id": "1", "name": "x", "status": "completed",
            "config": {}, "config_sha256": sha, "components": [],
            "environment": {"python": "3", "torch": "2", "platform": "linux", "torchrack": "0.1"},
            "seed": 0, "epochs": [], "final_metrics": {}, "timings": {},
            "measurements": {"source": "eval", "time": 1.0, **measurements}}


def test_the_schema_reads_old_records_and_holds_the_measurements() -> None:
    schema = load_schema("run-record")
    assert tuple(schema["properties"]["schema_version"]["enum"]) == READABLE_RECORD_VERSIONS
    assert RECORD_SCHEMA_VERSION == max(READABLE_RECORD_VERSIONS)
    record = _record_with(measure_model(_mlp(), _samples(), FAST, device=torch.device("cpu")))
    assert validate("run-record", record) == []
    old = {k: v for k, v in record.items() if k != "measurements"}
    assert validate("run-record", {**old, "schema_version": 1}) == []
    bad = json.loads(json.dumps(record))
    bad["measurements"]["energy_j_per_1000"] = {"why": "?"}
    bad["measurements"]["latency_ms"]["p50"] = -1
    problems = " ".join(str(p) for p in validate("run-record", bad))
    assert "/measurements/energy_j_per_1000" in problems and "/measurements/latency_ms/p50" in problems


# -- end to end ------------------------------------------------------------------------------------

SMALL = """\
schema_version = 1

[run]
name = "digits-mlp"
seed = 0
epochs = 2

[data]
dataset = { name = "digits" }
batch_size = 64

[model]
backbone = { name = "mlp", params = { in_features = 64, widths = [32] } }
head = { name = "linear", params = { in_features = 32, num_classes = 10 } }

[loss]
name = "cross_entropy"

[optimizer]
name = "adam"
params = { lr = 0.01 }

[accelerator]
name = "cpu"
params = { threads = 1 }

[evaluate]
measure = ["latency", "memory", "flops", "energy"]
batch_sizes = [1, 16]

[[metrics]]
name = "accuracy"
"""


@pytest.fixture(scope="module")
def measured_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    cwd = tmp_path_factory.mktemp("measure")
    (cwd / "small.toml").write_text(SMALL)
    proc = torchrack("run", "small.toml", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "measured on cpu at batch size 1: latency p50" in proc.stderr
    shown = torchrack("runs", "show", "latest", "--json", cwd=cwd)
    assert shown.returncode == 0, shown.stderr
    return cwd, json.loads(shown.stdout)


@pytest.mark.slow
def test_a_run_records_what_its_config_asks_to_measure(measured_run: tuple[Path, dict]) -> None:
    _, record = measured_run
    assert validate("run-record", record) == [] and record["schema_version"] == RECORD_SCHEMA_VERSION
    m = record["measurements"]
    assert m["source"] == "run" and m["split"] == "test" and m["checkpoint_epoch"] == 2
    assert m["batch_sizes"] == [1, 16] and m["threads"] == 1
    assert 0 < m["latency_ms"]["p50"] <= m["latency_ms"]["p95"] <= m["latency_ms"]["p99"]
    assert m["flops_per_sample"] == 2 * 64 * 32 + 2 * 32 * 10
    energy = m["energy_j_per_1000"]
    assert isinstance(energy, float) or energy["unavailable"]


@pytest.mark.slow
def test_measuring_does_not_change_the_metrics_and_show_lists_the_figures(measured_run: tuple[Path, dict]) -> None:
    cwd, record = measured_run
    rid = record["run_id"]
    plain = torchrack("eval", rid, "--json", cwd=cwd)
    assert plain.returncode == 0, plain.stderr
    measured = torchrack("eval", rid, "--measure", "all", "--batch-sizes", "2", "--json", cwd=cwd)
    assert measured.returncode == 0, measured.stderr
    (a,), (b,) = json.loads(plain.stdout)["runs"], json.loads(measured.stdout)["runs"]
    assert a["metrics"] == b["metrics"] == record["final_metrics"]
    assert "measurements" not in a and b["measurements"]["source"] == "eval"
    assert b["measurements"]["batch_sizes"] == [2]
    shown = torchrack("runs", "show", rid, cwd=cwd)
    assert shown.returncode == 0, shown.stderr
    assert "measurements (eval, 'test' samples) on cpu" in shown.stdout
    assert "BATCH  P50 MS" in shown.stdout and "FLOPs per sample 4,736" in shown.stdout


@pytest.mark.slow
def test_two_runs_measured_together_are_like_for_like(measured_run: tuple[Path, dict]) -> None:
    cwd, record = measured_run
    rid = record["run_id"]
    proc = torchrack("eval", rid, rid, "--measure", "latency,flops", "--batch-sizes", "1,4", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "side by side (like for like):" in proc.stdout
    assert "throughput_per_s (batch 4)" in proc.stdout and "flops_per_sample" in proc.stdout
    as_json = torchrack("eval", rid, rid, "--measure", "flops", "--json", cwd=cwd)
    data = json.loads(as_json.stdout)
    assert data["like_for_like"] is True and data["context_differences"] == []
    assert [r["measurements"]["flops_per_sample"] for r in data["runs"]] == [4736, 4736]
    compare = torchrack("runs", "compare", rid, rid, "--json", cwd=cwd)
    assert compare.returncode == 0, compare.stderr
    assert json.loads(compare.stdout)["same"]["measurements"] is True


@pytest.mark.slow
@pytest.mark.parametrize(("flags", "expected"), [
    (["--measure", "latncy"], "cannot measure 'latncy' (did you mean 'latency'?)"),
    (["--measure", "latency", "--timed-batches", "10"], "expected a whole number of 50 or more"),
    (["--measure", "latency", "--batch-sizes", "1,zero"], "found 'zero' in '1,zero'"),
])
def test_bad_measure_flags_are_usage_errors(measured_run: tuple[Path, dict], flags: list[str],
                                            expected: str) -> None:
    cwd, record = measured_run
    proc = torchrack("eval", record["run_id"], *flags, cwd=cwd)
    assert proc.returncode == 2 and expected in proc.stderr and "Traceback" not in proc.stderr


def test_the_evaluate_table_is_checked_with_the_config(tmp_path: Path) -> None:
    bad = SMALL.replace('measure = ["latency", "memory", "flops", "energy"]', 'measure = ["speed"]')
    (tmp_path / "bad.toml").write_text(bad)
    proc = torchrack("validate", "bad.toml", "--static", cwd=tmp_path)
    assert proc.returncode == 1 and "/evaluate/measure/0" in proc.stderr + proc.stdout
    typo = SMALL.replace("batch_sizes = [1, 16]", "batch_size = [1, 16]")
    (tmp_path / "typo.toml").write_text(typo)
    proc = torchrack("validate", "typo.toml", "--static", cwd=tmp_path)
    assert proc.returncode == 1 and "batch_size" in proc.stderr + proc.stdout


@pytest.mark.cuda
def test_on_cuda_latency_is_timed_with_events_and_memory_is_max_allocated() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here: CUDA events and max_memory_allocated cannot be checked")
    cuda = torch.device("cuda")
    m = measure_model(_mlp().to(cuda), _samples(), FAST, device=cuda)
    assert 0 < m["latency_ms"]["p50"] <= m["latency_ms"]["p95"] <= m["latency_ms"]["p99"]
    assert m["methods"]["latency"] == "CUDA events, stream synchronised"
    assert isinstance(m["peak_memory_bytes"], int) and m["peak_memory_bytes"] >= m["parameters"]["bytes"]
    assert m["threads"] is None and m["device_name"]
    energy = m["energy_j_per_1000"]
    assert isinstance(energy, float) or "NVML" in energy["unavailable"] or "nvidia-ml-py" in energy["unavailable"]
