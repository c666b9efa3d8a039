"""Sweeps (lenet_xp/tools/sweep.py, scripts/sweep.py): grid files, the runs they expand to, a sweep
on worker processes and on MPI ranks, skipping finished runs, reporting a failed one."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from lenet_xp.cli.mpi_launch import mpiexec
from lenet_xp.runs.metrics import read_metrics
from lenet_xp.tools.sweep import GridError, load_grid, parse_grid, plan, run_one
from mnist_files import learnable_arrays, write_fake_mnist

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "sweep.py"
GRIDS = Path(__file__).resolve().parents[1] / "sweeps"
needs_mpi = pytest.mark.skipif(mpiexec() is None or not importlib.util.find_spec("mpi4py"),
                               reason="needs mpi4py and mpiexec: pip install 'lenet_xp[mpi]'")
FAKE = {"val_size": 100, "verify": False, "download": False}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mnist")
    write_fake_mnist(folder, learnable_arrays(n_train=300, n_test=100))
    return folder


def write_grid(path: Path, **data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def sweep(*arguments, prefix=(), timeout=300):
    return subprocess.run([*prefix, sys.executable, *(["-m", "mpi4py.futures"] if prefix else []),
                           str(SCRIPT), *map(str, arguments)],
                          capture_output=True, text=True, timeout=timeout)


def test_plan_is_models_times_combinations_times_seeds(tmp_path):
    grid = parse_grid({"models": ["lenet5", "deep_cnn"], "seeds": [0, 1, 2],
                       "recipe": {"epochs": 2}, "grid": {"lr": [1e-3, 2e-3], "gamma": [0.5, 0.9]}})
    runs = plan(grid, tmp_path)
    assert len(runs) == 2 * 4 * 3 and len({run.out for run in runs}) == len(runs)
    first = runs[0]
    assert first.recipe == {"epochs": 2, "lr": 1e-3, "gamma": 0.5} and first.seed == 0
    assert Path(first.out).name == "lenet5-lr=0.001-gamma=0.5-seed0"
    assert first.label == "lenet5 lr=0.001 gamma=0.5"
    assert Path(plan(parse_grid({"grid": {"init": ["gaussian:0.01"]}}), tmp_path)[0].out).name \
        == "lenet5-init=gaussian_0.01-seed0"


@pytest.mark.parametrize("data, message", [
    ({"modles": ["lenet5"]}, "unknown key 'modles'"),
    ({"models": ["lenet6"]}, "unknown model 'lenet6'"),
    ({"models": []}, "models must be a non-empty list"),
    ({"seeds": [0.5]}, "seeds must be a non-empty list of integers"),
    ({"grid": {"lr": []}}, "lr must be a non-empty list"),
    ({"grid": {"lr": [1e-3]}, "recipe": {"lr": 1e-3}}, "lr is both in"),
    ({"grid": {"lr": [-1.0]}}, "lr must be > 0"),
    ({"grid": {"learning_rate": [1e-3]}}, "unknown recipe field"),
    ({"models": ["lenet5_paper"], "grid": {"init": ["he_normal"]}}, "has its own initialisation"),
    ({"run": {"seed": 3}}, "[run] seed is not one of"),
])
def test_bad_grids_name_the_problem(data, message):
    with pytest.raises(GridError, match=__import__("re").escape(message)):
        parse_grid(data)


def test_the_shipped_grid_files_are_valid():
    names = {path.stem for path in GRIDS.glob("*.toml")}
    assert {"learning_rate", "init", "epochs", "depth"} <= names
    for path in GRIDS.glob("*.toml"):
        grid = load_grid(path)
        assert grid.name == path.stem and grid.description and grid.seeds
        # the studies give a spread over seeds; a recipe search on a small budget may take one
        assert len(grid.seeds) >= 2 or path.stem.endswith("_search")


def test_unreadable_grid_files(tmp_path):
    with pytest.raises(GridError, match="cannot read"):
        load_grid(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("models = [lenet5", encoding="utf-8")
    with pytest.raises(GridError, match="not valid TOML"):
        load_grid(bad)
    done = sweep(bad)
    assert done.returncode == 2 and "not valid TOML" in done.stderr
    latin = tmp_path / "latin.toml"
    latin.write_bytes('description = "Rémi\'s grid"\n'.encode("latin-1"))
    with pytest.raises(GridError, match=r"latin.toml is not UTF-8 text \(byte 0xe9 at position 16\)"):
        load_grid(latin)
    with pytest.raises(GridError, match="is not UTF-8 text"):
        load_grid(GRIDS.parent / "docs" / "figures" / "lenet5_curves.png")


@pytest.mark.parametrize("text", ["", "\n# nothing yet\n", 'name = "x"\ndescription = "y"\n'])
def test_a_grid_that_says_nothing_to_run_is_refused(tmp_path, text):
    path = tmp_path / "empty.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GridError, match="says nothing to run: name its models, seeds, "
                                        r"\[recipe\] or \[grid\]"):
        load_grid(path)
    (tmp_path / "empty.json").write_text("{}", encoding="utf-8")
    with pytest.raises(GridError, match="says nothing to run"):
        load_grid(tmp_path / "empty.json")


def test_a_sweep_on_two_workers_tabulates_skips_and_reports_failures(data_dir, tmp_path):
    grid = write_grid(tmp_path / "lr.json", name="lr", description="tiny", seeds=[0, 1],
                      recipe={"epochs": 2, "batch_size": 32}, grid={"lr": [2e-3, 1e12]},
                      run={**FAKE, "train_limit": 200})
    out = tmp_path / "out"
    done = sweep(grid, "--data-dir", data_dir, "--out", out, "--workers", "2")
    assert done.returncode == 1, done.stderr  # lr 1e12 diverges: reported, the others finish
    assert done.stderr.count("failed: lenet5 lr=1e+12") == 2 and "TrainingDiverged" in done.stderr
    assert done.stdout.count("FAILED") == 2 and "on 2 worker process(es)" in done.stdout
    with (out / "results.csv").open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [row["lr"] for row in rows] == ["0.002", "1000000000000.0"]
    good, bad = rows
    assert (good["seeds"], good["failed"], bad["seeds"], bad["failed"]) == ("2", "0", "0", "2")
    errors = [1 - read_metrics(out / f"lenet5-lr=0.002-seed{s}" / "metrics.jsonl")[-1]["test_accuracy"]
              for s in (0, 1)]
    assert float(good["test_error_mean"]) == pytest.approx(statistics.fmean(errors))
    assert float(good["test_error_std"]) == pytest.approx(statistics.stdev(errors))
    assert good["epochs_run"] == "2" and bad["test_error_mean"] == ""
    recent = [statistics.fmean(1 - r["val_accuracy"] for r in read_metrics(
        out / f"lenet5-lr=0.002-seed{s}" / "metrics.jsonl") if r["event"] == "epoch")
        for s in (0, 1)]  # 2 epochs: both of the last 3
    assert float(good["recent_val_error_mean"]) == pytest.approx(statistics.fmean(recent))
    table = (out / "results.md").read_text(encoding="utf-8")
    assert "| lenet5 | 0.002 | 2 |" in table and "2 failed" in table
    chosen = f"**{100 * statistics.fmean(recent):.2f} ± {100 * statistics.stdev(recent):.2f}**"
    assert chosen in table and table.count("**") == 2  # validation chooses, not the test set
    assert (out / "curves.png").stat().st_size > 0
    # run again: the finished runs are kept as they are, the failed ones tried again
    model = out / "lenet5-lr=0.002-seed0" / "model.npz"
    before = model.stat().st_mtime_ns
    again = sweep(grid, "--data-dir", data_dir, "--out", out, "--workers", "2", "--no-plot")
    assert again.returncode == 1 and again.stdout.count(", finished before") == 2
    assert "(2 finished before)" in again.stdout and model.stat().st_mtime_ns == before


def test_a_run_that_stopped_before_its_end_continues_from_its_checkpoint(data_dir, tmp_path):
    grid = parse_grid({"recipe": {"epochs": 2}, "run": {**FAKE, "train_limit": 100}})
    run = plan(grid, tmp_path)[0]
    first = run_one(dataclasses.replace(run, recipe={"epochs": 1}), str(data_dir))
    assert first["status"] == "done" and first["epochs"] == 1
    folder = Path(run.out)
    (folder / "model.npz").unlink()  # as if stopped after epoch 1 of 2
    (folder / "metrics.jsonl").write_text((folder / "metrics.jsonl").read_text().splitlines()[0] + "\n")
    epoch_1 = read_metrics(folder / "metrics.jsonl")[0]
    second = run_one(run, str(data_dir))
    assert second["status"] == "done", second
    records = read_metrics(folder / "metrics.jsonl")
    assert [r["event"] for r in records] == ["epoch", "epoch", "test"]
    assert records[0] == epoch_1, "epoch 1 was kept, not trained again"


@needs_mpi
def test_a_sweep_on_mpi_worker_ranks(data_dir, tmp_path):
    grid = write_grid(tmp_path / "g.json", name="g", seeds=[0, 1], recipe={"epochs": 1},
                      grid={"init": ["he_normal", "gaussian:0.01"]},
                      run={**FAKE, "train_limit": 100})
    done = sweep(grid, "--data-dir", data_dir, "--out", tmp_path / "out", "--no-plot",
                 prefix=(mpiexec(), "-n", "3"))
    assert done.returncode == 0, done.stderr
    assert "on 2 MPI worker rank(s)" in done.stdout and done.stdout.count(": test error") == 4
    assert len(list((tmp_path / "out").glob("*/model.npz"))) == 4
