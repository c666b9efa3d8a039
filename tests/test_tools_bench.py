"""The benchmark tool (lenet_xp/tools/bench/, scripts/bench.py) on tiny sizes: logic, not speed."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lenet_xp import backend as backend_module
from lenet_xp.backend import Backend, DeviceError, Random, available_cores, get_backend
from lenet_xp.tools import bench
from lenet_xp.tools.bench import BenchConfig, BenchError, Spread, Repeat, format_report, run_benchmark
from lenet_xp.tools.bench import autograd_twin
from scripts_loader import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
TINY = ["--batch-size", "4", "--batches", "2", "--warmup", "1", "--repeats", "2", "--quiet"]


@pytest.fixture(scope="module")
def script():
    return load_script("bench")


def tiny_config(**changes) -> BenchConfig:
    values = dict(batch_sizes=(4,), batches=2, warmup=1, repeats=2)
    values.update(changes)
    return BenchConfig(**values)


def test_spread_median_extremes_and_quartiles():
    s = Spread.of([4.0, 1.0, 3.0, 2.0, 5.0])
    assert (s.median, s.min, s.max, s.q1, s.q3) == (3.0, 1.0, 5.0, 2.0, 4.0)
    assert s.iqr == 2.0
    one = Spread.of([7.0])
    assert one.median == one.min == one.max == one.q1 == one.q3 == 7.0


def test_timing_extrapolates_to_a_60000_image_epoch():
    t = Repeat(batch_size=100, batches=10, train_seconds=2.0, inference_seconds=0.5, final_loss=1.0)
    assert t.epoch_seconds == pytest.approx(2.0 / 10 * 60000 / 100)
    assert t.images_per_second == pytest.approx(500.0)
    assert t.inference_images_per_second == pytest.approx(2000.0)


def test_epochs_replace_batches():
    assert BenchConfig(batches=7).timed_batches(64) == 7
    assert BenchConfig(epochs=0.01).timed_batches(64) == math.ceil(600 / 64)


def test_two_repeats_on_cpu_give_well_formed_results():
    lines = []
    report = run_benchmark(tiny_config(batch_sizes=(4, 2)), progress=lines.append)
    assert [r.batch_size for r in report.results] == [4, 2]
    for result in report.results:
        assert result.timed_batches == 2 and result.torch is None and result.ratio is None
        timings = result.lenet_xp.repeats
        assert len(timings) == 2
        for t in timings:
            assert t.train_seconds > 0 and t.inference_seconds > 0 and math.isfinite(t.final_loss)
        s = result.lenet_xp.epoch_seconds
        assert s.min <= s.q1 <= s.median <= s.q3 <= s.max
        assert result.lenet_xp.peak_memory_bytes > 0
        assert result.lenet_xp.peak_memory_kind == "process peak RSS"
        assert result.lenet_xp.step_alloc_peak_bytes > 0
    assert any("repeat 2/2" in line for line in lines)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["results"][0]["lenet_xp"]["epoch_seconds"]["median"] > 0
    assert data["machine"]["numpy"] == np.__version__
    text = format_report(report)
    assert text.startswith("# ") and "epoch s median" in text and "lenet5" in text


def test_cli_writes_json_that_parses(script, tmp_path, capsys):
    out = tmp_path / "sub" / "bench.json"
    assert script.main(TINY + ["--batch-size", "2,3", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [r["batch_size"] for r in data["results"]] == [4, 2, 3]
    assert data["config"]["recipe"]["optimizer"] == "adam"
    assert len(data["results"][0]["lenet_xp"]["repeats"]) == 2
    printed = capsys.readouterr().out
    assert "img/s" in printed and str(out) in printed


def test_vs_torch_is_skipped_with_a_note_when_torch_is_absent(script, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    out = tmp_path / "bench.json"
    assert script.main(TINY + ["--vs-torch", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "pip install torch==2.13.0" in printed
    data = json.loads(out.read_text())
    assert data["results"][0]["torch"] is None and data["results"][0]["ratio_epoch_seconds"] is None
    assert any("torch==2.13.0" in note for note in data["notes"])


@pytest.mark.parametrize("flags", [
    ["--batch-size", "0"], ["--batch-size", "a,b"], ["--repeats", "0"], ["--warmup", "-1"],
    ["--model", "nope"], ["--batches", "5", "--epochs", "1"], ["--lr", "0"],
    ["--optimizer", "nope"], ["--no-such-flag"],
])
def test_bad_flags_exit_non_zero(script, flags, capsys):
    with pytest.raises(SystemExit) as exc:
        script.main(TINY + flags)
    assert exc.value.code != 0


def test_bad_device_or_missing_twin_exits_2_with_the_reason(script, monkeypatch, capsys):
    assert script.main(TINY + ["--device", "tpu"]) == 2
    assert "unknown device" in capsys.readouterr().err
    monkeypatch.setattr(autograd_twin, "TORCH_TWINS", {})
    assert script.main(TINY + ["--vs-torch"]) == 2
    assert "no PyTorch twin" in capsys.readouterr().err


def test_config_validation(monkeypatch):
    with pytest.raises(BenchError, match="unknown model"):
        tiny_config(model="nope").validate()
    with pytest.raises(BenchError, match="repeats"):
        tiny_config(repeats=0).validate()
    with pytest.raises(DeviceError):
        tiny_config(devices=("tpu",)).validate()
    with pytest.raises(BenchError, match="--split-batch needs --threads"):
        tiny_config(split_batch=True).validate()
    a_gpu = Backend("cuda:0", np, None, hardware="cuda", index=0)  # what CuPy's would answer
    monkeypatch.setitem(backend_module._BY_SPEC, ("cuda", backend_module.ALONE), a_gpu)
    with pytest.raises(BenchError, match="--split-batch is for the CPU"):
        tiny_config(split_batch=True, threads=2, devices=("cuda",)).validate()


def test_script_subprocess_threads_and_exit_codes(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(SCRIPT), *TINY, "--threads", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    machine = json.loads(out.read_text())["machine"]
    assert machine["thread_env"]["OMP_NUM_THREADS"] == "1"
    assert machine["blas"]["threads"] in (1, None)
    split = subprocess.run([sys.executable, str(SCRIPT), *TINY, "--threads", "2", "--split-batch",
                            "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert split.returncode == 0, split.stderr
    assert "split 2" in split.stdout
    report = json.loads(out.read_text())
    assert report["config"]["split_batch"] and report["machine"]["blas"]["threads"] in (1, None)
    assert [r["workers"] for r in report["results"]] == [2]
    bad = subprocess.run([sys.executable, str(SCRIPT), "--batch-size", "0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "batch sizes" in bad.stderr


def _rows(stdout: str) -> dict[int, list[str]]:
    """The report table's rows by batch size (columns split on runs of spaces)."""
    rows = {}
    for line in stdout.splitlines():
        if line.startswith("lenet5 "):
            cells = [c.strip() for c in line.split("  ") if c.strip()]
            rows[int(cells[2])] = cells
    return rows


@pytest.mark.parametrize("flag, workers", [([], [1, 2]), (["--no-split-batch"], [1, 1])],
                         ids=["by-batch-size", "never"])
def test_script_splits_by_batch_size_unless_told(tmp_path, flag, workers):
    """With --threads 2 and no flag, batch 4 leaves the threads to BLAS and batch 128 (64
    images per thread) is split; --no-split-batch keeps BLAS threads for both."""
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(SCRIPT), *TINY, "--batch-size", "128", "--threads",
                           "2", *flag, "--json", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert [r["batch_size"] for r in report["results"]] == [4, 128]
    assert [r["workers"] for r in report["results"]] == workers
    rows = _rows(done.stdout)
    assert [rows[4][3], rows[128][3]] == [("split 2" if w > 1 else "BLAS 2") for w in workers]


# --- with PyTorch installed (a benchmark peer, not a dependency): skipped cleanly without it


@pytest.fixture
def torch_one_thread():
    """torch with one intra-op thread (fast and steady on a busy machine), restored afterwards."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def test_vs_torch_runs_interleaved_and_gives_a_ratio(torch_one_thread):
    report = run_benchmark(tiny_config(vs_torch=True), progress=None)
    result = report.results[0]
    assert len(result.torch.repeats) == 2 and result.ratio > 0 and result.inference_ratio > 0
    assert report.machine["torch"]
    assert "torch epoch s" in format_report(report)
    json.dumps(report.to_dict())


def test_pytorch_keeps_its_threads_where_lenet_xp_splits_the_batch(torch_one_thread):
    """Splitting sets one BLAS thread per lenet_xp worker; PyTorch must still get --threads."""
    report = run_benchmark(tiny_config(vs_torch=True, threads=2, batch_sizes=(128,)), progress=None)
    assert report.results[0].workers == 2
    assert torch_one_thread.get_num_threads() == 2


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_torch_twin_trains_like_lenet5(optimizer, torch_one_thread):
    """Same initial weights, data and optimiser: the same losses, step after step."""
    torch = torch_one_thread
    config = tiny_config(vs_torch=True, optimizer=optimizer, lr=0.01)
    lenet = bench.LenetRunner(config, get_backend("cpu"), 8, Random(0), pool_batches=2)
    twin = bench.TorchAutogradTwin(torch, torch.device("cpu"), config, twin_of=lenet)
    for step in range(3):
        batch = step % 2
        ours = float(lenet._step(*lenet.batches[batch]))
        theirs = float(twin._step(*twin.batches[batch]).item())
        assert ours == pytest.approx(theirs, rel=1e-4), f"step {step}"


# ---------------------------------------------------------------------------------------------
# On MPI ranks (--ranks N)

needs_mpi = pytest.mark.skipif(
    __import__("lenet_xp.cli.mpi_launch", fromlist=["mpiexec"]).mpiexec() is None
    or not importlib.util.find_spec("mpi4py"),
    reason="needs mpi4py and mpiexec: pip install 'lenet_xp[mpi]'")


def test_threads_are_shared_out_between_ranks():
    four = BenchConfig(ranks=2, threads=4)
    assert (four.rank_threads, four.torch_threads) == (2, 4)
    # each rank splits its share only where the share alone is large enough (64 per worker)
    assert four.workers(256) == 2 and four.workers(128) == 1 and four.blas_threads(128) == 2
    assert BenchConfig(threads=2).rank_threads == 2
    # without --threads, what a training run takes: every core, shared out between the ranks
    assert BenchConfig().torch_threads == available_cores() == BenchConfig(ranks=2).torch_threads
    assert BenchConfig(ranks=2).rank_threads == max(1, available_cores() // 2)


def test_ranks_need_batches_they_can_share_and_mpi():
    with pytest.raises(BenchError, match="ranks must be >= 1"):
        tiny_config(ranks=0).validate()
    with pytest.raises(BenchError, match=">= the 8 ranks"):
        tiny_config(ranks=8).validate()
    with pytest.raises(BenchError, match="mpiexec -n 2"):  # not launched on 2 ranks
        run_benchmark(tiny_config(ranks=2), progress=None)


@needs_mpi
def test_two_ranks_report_scaling_and_the_all_reduce(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(SCRIPT), *TINY, "--ranks", "2", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())["results"][0]
    assert result["ranks"] == 2 and result["lenet_xp"]["epoch_seconds"]["median"] > 0
    assert result["one_rank"]["framework"] == "lenet_xp_1rank"
    one, two = result["one_rank"]["epoch_seconds"]["median"], result["lenet_xp"]["epoch_seconds"]["median"]
    assert result["scaling_efficiency"] == pytest.approx(one / (2 * two))
    assert result["allreduce_us"] > 0 and 0 < result["allreduce_share"]
    assert done.stdout.count("scaling efficiency") == 1  # rank 0 alone reports
    assert "2 ranks × BLAS 1" in done.stdout


def test_distortion_cost_is_timed_against_the_step():
    report = run_benchmark(tiny_config(distort="affine+elastic"), progress=None)
    result = report.results[0]
    assert result.distort_ms > 0
    step_ms = 1e3 * result.lenet_xp.epoch_seconds.median * 4 / 60000
    assert result.distort_share == pytest.approx(result.distort_ms / step_ms)
    assert "distortion affine+elastic:" in format_report(report)
    assert run_benchmark(tiny_config(), progress=None).results[0].distort_ms is None
    with pytest.raises(BenchError, match="unknown distortion 'wobble'"):
        tiny_config(distort="wobble").validate()


# ---------------------------------------------------------------------------------------------
# Several lenet_xp devices side by side (numpy and PyTorch's tensors)


@pytest.mark.torch
def test_numpy_and_torch_tensors_side_by_side_against_the_twin(torch_one_thread, tmp_path,
                                                                 script, capsys):
    """`--device cpu,torch:cpu --vs-torch`: both lenet_xp backends and the PyTorch twin,
    interleaved, each with its ratio to the twin, in the table and the JSON."""
    out = tmp_path / "bench.json"
    assert script.main(TINY + ["--device", "cpu,torch:cpu", "--vs-torch", "--threads", "1",
                               "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = [line for line in printed.splitlines() if line.startswith("lenet5 ")]
    assert [row.split()[1] for row in rows] == ["cpu", "torch:cpu"]
    result = json.loads(out.read_text())["results"][0]
    assert result["lenet_xp"]["device"] == "cpu" and result["torch"]["device"] == "torch cpu"
    other = result["others"][0]
    assert other["framework"] == "lenet_xp[torch:cpu]" and other["device"] == "torch:cpu"
    assert len(other["repeats"]) == 2 and other["ratio_epoch_seconds"] == pytest.approx(
        other["epoch_seconds"]["median"] / result["torch"]["epoch_seconds"]["median"])
    for row, ratio in zip(rows, [result["ratio_epoch_seconds"], other["ratio_epoch_seconds"]]):
        assert row.split()[-1] == f"{ratio:.2f}"


def test_devices_side_by_side_share_their_hardware(monkeypatch):
    torch = pytest.importorskip("torch")
    from lenet_xp.backends.torch_backend import TorchBackend

    monkeypatch.setitem(backend_module._BY_SPEC, ("torch:mps", backend_module.ALONE),
                        TorchBackend(torch, "mps", None))  # what a Mac's GPU would answer
    with pytest.raises(BenchError, match="side by side on one piece of hardware"):
        tiny_config(devices=("cpu", "torch:mps")).validate()
    with pytest.raises(BenchError, match="named twice"):
        tiny_config(devices=("cpu", "cpu")).validate()
    with pytest.raises(BenchError, match="give one --device"):
        tiny_config(devices=("cpu", "array_api_strict"), ranks=2).validate()


# --- operations a training step (lenet_xp.tools.bench.launches), counted on torch:cpu


@pytest.mark.torch
def test_the_report_counts_the_operations_of_a_step_on_both_paths(torch_one_thread):
    report = run_benchmark(tiny_config(launches=True), progress=None)
    (gpu, cpu), = report.launches
    assert (gpu.model, gpu.batch_size, gpu.launch_bound, cpu.launch_bound) == ("lenet5", 4, True, False)
    assert 0 < gpu.total < cpu.total
    assert f"{gpu.total} as a GPU launches them, {cpu.total} on the CPU's path" in format_report(report)
    assert json.loads(json.dumps(report.to_dict()))["launches"][0]["gpu_path"]["total"] == gpu.total


def test_operations_are_not_counted_unless_asked():
    assert run_benchmark(tiny_config(), progress=None).launches == []


@pytest.mark.torch
def test_count_only_prints_the_table_of_issue_30(script, capsys):
    assert script.main(["--count-only"]) == 0
    printed = capsys.readouterr().out
    for model in ("lenet5", "bn_cnn", "simard_cnn", "deep_cnn"):
        assert f"  {model} " in printed
    assert "(goal <= 150)" in printed and "(goal <= 300)" in printed


def test_count_only_without_torch_exits_2_with_the_install_command(script, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert script.main(["--count-only"]) == 2
    assert "pip install torch==2.13.0" in capsys.readouterr().err


def test_without_torch_a_note_says_the_operations_were_not_counted(script, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert script.main(TINY) == 0
    assert "operations a step not counted: PyTorch is not installed" in capsys.readouterr().out
