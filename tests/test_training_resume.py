"""Resuming a run: bit-identical to a run that never stopped, after a kill at any moment;
clear errors for checkpoints that cannot be resumed, and nothing overwritten by them."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lenet_xp.data import load_mnist
from lenet_xp.runs.checkpoint import CheckpointError, load_checkpoint
from lenet_xp.runs.folder import RunFolder
from lenet_xp.inference.evaluation import evaluate_digits
from lenet_xp.inference import load_model
from lenet_xp.training.experiment import RunConfig, run
from lenet_xp.training.resume import resume_run
from backends import device_params
from mnist_files import learnable_arrays, write_fake_mnist
from scripts_loader import load_script

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "scripts" / "train.py"
TIMING = ("seconds", "images_per_second", "elapsed")


class Killed(Exception):
    """Stands for a process killed right after a checkpoint was written."""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mnist")
    write_fake_mnist(folder, learnable_arrays(n_train=400, n_test=100))
    return folder


def config(data_dir, out, model="lenet5", epochs=4, device="cpu", train_limit=None,
           **recipe) -> RunConfig:
    return RunConfig.from_dict({"model": model, "device": device, "data_dir": str(data_dir),
                                "verify": False, "download": False, "val_size": 100,
                                "out": str(out), "progress": False, "plot": False,
                                "train_limit": train_limit}, {"epochs": epochs, **recipe})


def weights(run_dir) -> dict:
    return load_checkpoint(Path(run_dir) / "model.npz").params


def records(run_dir) -> list[dict]:
    lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def assert_same_run(resumed, uninterrupted):
    first, second = weights(resumed), weights(uninterrupted)
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)  # bit for bit
    assert records(resumed) == records(uninterrupted)


def kill_after_checkpoint(monkeypatch, epoch):
    save = RunFolder.save_checkpoint

    def save_then_die(self, state, meta):
        path = save(self, state, meta)
        if state["training"]["epoch"] == epoch:
            raise Killed
        return path

    monkeypatch.setattr(RunFolder, "save_checkpoint", save_then_die)


@pytest.mark.parametrize("model, recipe", [
    ("lenet5", {}),                       # Adam, random shifts
    ("lenet5_paper", {}),                 # SDLM's curvatures and samples, per-sample updates
    ("deep_cnn", {}),                     # dropout
    ("lenet5", {"patience": 1, "lr": 0.05}),  # early stopping: best weights, epochs waited
    ("bn_cnn", {}),                       # batch normalisation's running statistics
    ("bn_cnn", {"ema": 0.9}),             # the moving average of weights and statistics
], ids=["lenet5", "lenet5_paper", "deep_cnn", "lenet5-early-stopping", "bn_cnn", "bn_cnn-ema"])
def test_a_run_killed_after_epoch_2_resumes_bit_identically(data_dir, tmp_path, monkeypatch,
                                                            model, recipe):
    limit = 150 if model in ("lenet5_paper", "bn_cnn") else None  # keep the slow ones short
    full = run(config(data_dir, tmp_path / "full", model, train_limit=limit, **recipe), log=_quiet)
    kill_after_checkpoint(monkeypatch, epoch=2)
    with pytest.raises(Killed):
        run(config(data_dir, tmp_path / "cut", model, train_limit=limit, **recipe), log=_quiet)
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.npz").meta["epoch"] == 2
    assert not (tmp_path / "cut" / "model.npz").exists()
    monkeypatch.undo()
    resumed = resume_run(tmp_path / "cut", log=_quiet)
    assert len(resumed.history) == len(full.history) and resumed.test_accuracy == full.test_accuracy
    assert_same_run(tmp_path / "cut", tmp_path / "full")


def _quiet(line):
    pass


def test_a_run_with_ema_saves_and_tests_the_average(data_dir, tmp_path):
    """model.npz holds the moving average (weights and running statistics) that the
    checkpoint keeps beside the training weights, and the run's test figure is its."""

    result = run(config(data_dir, tmp_path / "run", "bn_cnn", epochs=2, train_limit=150, ema=0.9),
                 log=_quiet)
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert checkpoint.meta["ema"] == {"updates": 2 * 2}  # 150 images in batches of 128
    final = weights(tmp_path / "run")
    averages = checkpoint.state["average"]["averages"]
    assert final.keys() == averages.keys() and "bn1.running_var" in final
    for name, value in final.items():
        np.testing.assert_array_equal(value, averages[name], err_msg=name)
    assert any(not np.array_equal(final[name], checkpoint.params[name]) for name in final)
    test = load_mnist(data_dir, verify=False, download=False)
    evaluation = evaluate_digits(load_model(tmp_path / "run" / "model.npz"), test.test_images,
                                 test.test_labels)
    assert evaluation.accuracy == result.test_accuracy


def test_early_stopping_stops_in_the_tested_run(data_dir, tmp_path):
    """The early-stopping case above is only a test if that run does stop early."""
    result = run(config(data_dir, tmp_path / "run", patience=1, lr=0.05), log=_quiet)
    assert len(result.history) < 4


def test_resume_extends_a_finished_run_with_epochs(data_dir, tmp_path):
    run(config(data_dir, tmp_path / "four", epochs=4), log=_quiet)
    run(config(data_dir, tmp_path / "two", epochs=2), log=_quiet)
    assert [r["event"] for r in records(tmp_path / "two")] == ["epoch", "epoch", "test"]
    resume_run(tmp_path / "two", recipe_changes={"epochs": 4}, log=_quiet)
    assert_same_run(tmp_path / "two", tmp_path / "four")  # the old test line is gone


@pytest.mark.parametrize("device", device_params("apart"))
def test_resume_on_a_device(data_dir, tmp_path, monkeypatch, device):
    """Train, checkpoint and resume with dropout (deep_cnn) where arrays live apart from the
    host, and get the run that never stopped, bit for bit: array_api_strict's device1 refuses
    any host array; PyTorch's tensors (torch:cpu) and GPUs draw the dropout masks with their
    own generator, seeded from the host's at every epoch."""
    run(config(data_dir, tmp_path / "full", "deep_cnn", epochs=3, device=device), log=_quiet)
    kill_after_checkpoint(monkeypatch, epoch=1)
    with pytest.raises(Killed):
        run(config(data_dir, tmp_path / "cut", "deep_cnn", epochs=3, device=device), log=_quiet)
    monkeypatch.undo()
    resume_run(tmp_path / "cut", log=_quiet)
    assert_same_run(tmp_path / "cut", tmp_path / "full")
    assert load_checkpoint(tmp_path / "cut" / "model.npz").meta["config"]["device"] == device


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, str(TRAIN), *args, "--ranks", "1"], capture_output=True,
                          text=True, timeout=300, **kwargs)


def _train_args(data_dir, out, epochs=4):
    """One process (--ranks 1): these runs are killed, and compared bit for bit with runs of
    one process."""
    return ["--data-dir", str(data_dir), "--no-verify", "--no-download", "--val-size", "100",
            "--epochs", str(epochs), "--out", str(out), "--no-plot", "--ranks", "1"]


# Dies (exit code 137, no clean-up, like kill -9) when epoch 3's metrics line is written
# and its checkpoint is not.
DIE_BEFORE_CHECKPOINT = """
import os, sys, runpy
from lenet_xp.runs.folder import RunFolder
save = RunFolder.save_checkpoint
def die_at_epoch_3(self, state, meta):
    if state["training"]["epoch"] == 3:
        os._exit(137)
    return save(self, state, meta)
RunFolder.save_checkpoint = die_at_epoch_3
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_killed_between_metrics_line_and_checkpoint(data_dir, tmp_path):
    out = tmp_path / "cut"
    result = subprocess.run([sys.executable, "-c", DIE_BEFORE_CHECKPOINT, str(TRAIN),
                             *_train_args(data_dir, out)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 137, result.stderr
    assert len(records(out)) == 3 and load_checkpoint(out / "checkpoint.npz").meta["epoch"] == 2
    resumed = _cli("--resume", str(out), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 2 of 4" in resumed.stdout
    assert _cli(*_train_args(data_dir, tmp_path / "full")).returncode == 0
    assert_same_run(out, tmp_path / "full")


def test_sigkill_at_any_moment_then_resume(data_dir, tmp_path):
    """kill -9 as soon as epoch 2's checkpoint is there (so somewhere in epoch 3, a
    checkpoint or metrics write included), then --resume."""
    out = tmp_path / "cut"
    process = subprocess.Popen([sys.executable, str(TRAIN), *_train_args(data_dir, out, 6),
                                "--model", "deep_cnn"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if load_checkpoint(out / "checkpoint.npz").meta["epoch"] >= 2:
                break
        except CheckpointError:
            pass
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    resumed = _cli("--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert _cli(*_train_args(data_dir, tmp_path / "full", 6), "--model", "deep_cnn").returncode == 0
    assert_same_run(out, tmp_path / "full")


@pytest.fixture
def finished_run(data_dir, tmp_path) -> Path:
    out = tmp_path / "run"
    run(config(data_dir, out, epochs=2), log=_quiet)
    return out


def _snapshot(folder: Path) -> dict:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _rewrite_meta(path: Path, change) -> None:
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    meta = json.loads(str(arrays["meta"]))
    change(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    with path.open("wb") as file:
        np.savez(file, **arrays)


def _call_it_deep_cnn(meta):
    meta["model"] = meta["config"]["model"] = "deep_cnn"


def test_bad_checkpoints_are_one_clear_error_and_change_nothing(finished_run):
    checkpoint = finished_run / "checkpoint.npz"
    good = checkpoint.read_bytes()
    cases = {
        "truncated": lambda: checkpoint.write_bytes(good[: len(good) // 2]),
        "damaged": lambda: checkpoint.write_bytes(good[:2000] + bytes(b ^ 0xFF for b in good[2000:2100])
                                                  + good[2100:]),
        "not lenet_xp's": lambda: np.savez(checkpoint.open("wb"), weights=np.zeros(3)),
        "newer format": lambda: _rewrite_meta(checkpoint, lambda m: m.update(format_version=99)),
        "another model's weights": lambda: _rewrite_meta(checkpoint, _call_it_deep_cnn),
        "unknown model": lambda: _rewrite_meta(checkpoint, lambda m: m.update(model="alexnet")),
    }
    expected = {
        "truncated": "is not a readable lenet_xp file",
        "damaged": "is not a readable lenet_xp file",
        "not lenet_xp's": "no 'meta' entry: not a lenet_xp file",
        "newer format": "written by a newer lenet_xp (checkpoint format 99",
        "another model's weights": "does not fit the deep_cnn model",
        "unknown model": "model 'alexnet', which this lenet_xp does not have",
    }
    for case, damage in cases.items():
        checkpoint.write_bytes(good)
        damage()
        before = _snapshot(finished_run)
        result = _cli("--resume", str(finished_run))
        assert result.returncode == 1, (case, result.stderr)
        assert result.stderr.startswith("error: ") and expected[case] in result.stderr, case
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, case
        assert _snapshot(finished_run) == before, f"{case}: the run's files changed"


def test_model_npz_is_not_resumable(finished_run):
    with pytest.raises(CheckpointError, match="cannot be resumed: it has no "
                                              "rng_state, history, early_stopping, optimizer"):
        resume_run(finished_run / "model.npz", log=_quiet)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        resume_run(finished_run / "nothing-here", log=_quiet)


def test_flags_that_contradict_the_checkpoint(finished_run):
    before = _snapshot(finished_run)
    result = _cli("--resume", str(finished_run), "--model", "deep_cnn", "--batch-size", "32",
                  "--seed", "4")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for part in ("--model 'deep_cnn' (the checkpoint's run has 'lenet5')",
                 "--seed 4 (the checkpoint's run has 0)",
                 "recipe batch_size=32 (the checkpoint's run has 64)"):
        assert part in result.stderr
    result = _cli("--resume", str(finished_run), "--out", "elsewhere")
    assert result.returncode == 2 and "leave out --out" in result.stderr
    assert _snapshot(finished_run) == before
    # a flag that repeats the checkpoint's value is no contradiction
    result = _cli("--resume", str(finished_run), "--model", "lenet5", "--batch-size", "64",
                  "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "resuming after epoch 2 of 2" in result.stdout


# ---- everything is checked before the first write --------------------------------------------

@pytest.fixture(scope="module")
def pristine(data_dir, tmp_path_factory) -> dict[str, Path]:
    """Finished 2-epoch runs to copy from: lenet5 seeds 0 and 1, lenet1 seed 0, and lenet5
    seed 0 as it was after epoch 1 (``cut``)."""
    root = tmp_path_factory.mktemp("pristine")
    runs = {"lenet5": config(data_dir, root / "lenet5", epochs=2),
            "seed1": dataclasses.replace(config(data_dir, root / "seed1", epochs=2), seed=1),
            "lenet1": config(data_dir, root / "lenet1", model="lenet1", epochs=2),
            "cut": config(data_dir, root / "cut", epochs=1)}
    for settings in runs.values():
        run(settings, log=_quiet)
    return {name: root / name for name in runs}


def _files(folder: Path) -> dict:
    """name -> (bytes, mtime) of every file in ``folder``."""
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns)
            for path in sorted(folder.iterdir())}


def _rewrite_arrays(path: Path, change) -> None:
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    change(arrays)
    with path.open("wb") as file:
        np.savez(file, **arrays)


def _nan_weight(arrays):
    arrays["param/C3.weight"][0, 0, 0, 0] = np.nan


def _bad_rng(meta):
    meta["rng_state"] = {"bit_generator": "PCG64", "state": "garbage"}


def _bad_history(meta):
    meta["history"][0]["colour"] = "blue"


DAMAGES = {
    # the checkpoint itself
    "optimiser state without Adam's v": (
        lambda run, runs: _rewrite_arrays(run / "checkpoint.npz", lambda a: a.pop("optim/0/v")),
        "optimiser state does not fit: parameter 0's state has m, not m, v"),
    "optimiser moments of the wrong shape": (
        lambda run, runs: _rewrite_arrays(run / "checkpoint.npz",
                                          lambda a: a.update({"optim/2/m": np.zeros((16, 6, 5, 6), np.float32)})),
        "optim/2/m is declared (16, 6, 5, 6) float32, the lenet5 model has (16, 6, 5, 5)"),
    "random state": (lambda run, runs: _rewrite_meta(run / "checkpoint.npz", _bad_rng),
                     "its random state is damaged"),
    "history": (lambda run, runs: _rewrite_meta(run / "checkpoint.npz", _bad_history),
                "its training history is damaged"),
    "NaN weights": (lambda run, runs: _rewrite_arrays(run / "checkpoint.npz", _nan_weight),
                    "holds non-finite numbers (NaN or infinity) in param/C3.weight (1 of 2,400)"),
    # a checkpoint that is not the folder's run
    "another model's checkpoint": (
        lambda run, runs: shutil.copy(runs["lenet1"] / "checkpoint.npz", run / "checkpoint.npz"),
        "is not the checkpoint of the run in"),
    "another seed's checkpoint": (
        lambda run, runs: shutil.copy(runs["seed1"] / "checkpoint.npz", run / "checkpoint.npz"),
        "is not the checkpoint of the run in"),
    "another run's metrics": (
        lambda run, runs: shutil.copy(runs["seed1"] / "metrics.jsonl", run / "metrics.jsonl"),
        "metrics.jsonl holds other epochs than"),
    "an older checkpoint than model.npz": (
        lambda run, runs: shutil.copy(runs["cut"] / "checkpoint.npz", run / "checkpoint.npz"),
        "model.npz holds 2 epochs, the checkpoint 1: resuming would replace the longer run"),
}


@pytest.mark.parametrize("case", DAMAGES)
def test_a_resume_that_refuses_writes_nothing(pristine, tmp_path, capsys, case):
    damage, message = DAMAGES[case]
    folder = shutil.copytree(pristine["lenet5"], tmp_path / "run")
    damage(folder, pristine)
    before = _files(folder)
    time.sleep(0.01)  # a rewrite would show in the mtimes
    try:
        # one process (--ranks 1), whose output capsys sees; on ranks the refusal is the same
        code = load_script("train").main(["--resume", str(folder), "--epochs", "3", "--no-plot",
                                          "--ranks", "1"])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 1, (case, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and message in err, (case, err)
    assert "epoch" not in out
    assert _files(folder) == before, f"{case}: the folder changed"
