"""Data-parallel training on MPI ranks (mpiexec -n 2): the steps of one process, sharded
evaluation, rank 0 alone writing, resume, and a failed or killed rank stopping the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lenet_xp.cli.mpi_launch import mpiexec, without_option
from lenet_xp.runs.checkpoint import load_checkpoint
from lenet_xp.training.communicators import SingleProcess, create_communicator, launched_ranks
from lenet_xp.training.data_parallel import shard
from backends import device_params
from mnist_files import learnable_arrays, write_fake_mnist

TRAIN = Path(__file__).resolve().parents[1] / "scripts" / "train.py"
needs_mpi = pytest.mark.skipif(mpiexec() is None or not __import__("importlib").util.find_spec("mpi4py"),
                               reason="needs mpi4py and mpiexec: pip install 'lenet_xp[mpi]'")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mnist")
    write_fake_mnist(folder, learnable_arrays(n_train=400, n_test=100))
    return folder


def args(data_dir, out, *extra):
    return ["--data-dir", str(data_dir), "--no-verify", "--no-download", "--val-size", "100",
            "--out", str(out), "--no-plot", *map(str, extra)]


def train(*arguments, ranks=1, prefix=(), timeout=300):
    """scripts/train.py on ``ranks`` MPI ranks (mpiexec -n), or on one process (--ranks 1:
    the comparisons need one, where --ranks auto could launch two)."""
    launcher = [mpiexec(), "-n", str(ranks)] if ranks > 1 else []
    alone = ["--ranks", "1"] if ranks == 1 else []
    command = launcher + [sys.executable, *prefix, str(TRAIN), *alone, *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def weights(run_dir) -> dict:
    return load_checkpoint(Path(run_dir) / "model.npz").params


def test_shares_cover_the_batch_once():
    for n, size in [(64, 2), (65, 2), (7, 3), (3, 3)]:
        bounds = [shard(n, rank, size) for rank in range(size)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        assert max(b - a for a, b in bounds) - min(b - a for a, b in bounds) <= 1


def test_without_mpi_there_is_one_rank(monkeypatch):
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert launched_ranks() == 1 and isinstance(create_communicator(), SingleProcess)
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert launched_ranks() == 4


def test_without_option():
    assert without_option(["--ranks", "2", "--epochs", "3"], "--ranks") == ["--epochs", "3"]
    assert without_option(["--ranks=2", "--seed", "1"], "--ranks") == ["--seed", "1"]


@needs_mpi
@pytest.mark.parametrize("model, extra", [("lenet5", []), ("lenet5_paper", ["--batch-size", "16"])],
                         ids=["lenet5", "lenet5_paper-sdlm"])
def test_two_ranks_take_the_steps_of_one_process(data_dir, tmp_path, model, extra):
    one = train(*args(data_dir, tmp_path / "one", "--model", model, "--epochs", 2, *extra))
    two = train(*args(data_dir, tmp_path / "two", "--model", model, "--epochs", 2, *extra), ranks=2)
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert "MPI: 2 ranks, each with its share of every batch" in two.stdout
    assert two.stdout.count("test accuracy") == 1, "only rank 0 prints"
    first, second = weights(tmp_path / "one"), weights(tmp_path / "two")
    for name in first:
        np.testing.assert_allclose(second[name], first[name], rtol=1e-4, atol=1e-5, err_msg=name)
    metrics = [[json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
               for run in ("one", "two")]
    for a, b in zip(*metrics):
        for key in ("train_accuracy", "val_accuracy", "test_accuracy"):
            if key in a:
                assert b[key] == pytest.approx(a[key], abs=0.011), key


@needs_mpi
@pytest.mark.parametrize("recipe", [[], ["--recipe", "ema=0.9"]], ids=["plain", "ema"])
def test_batch_norm_trains_on_two_ranks_and_all_score_the_saved_model(data_dir, tmp_path, recipe):
    """Each rank normalises its share with its own statistics (as PyTorch's DDP without
    SyncBatchNorm); the run still learns, and the sharded test figure is that of model.npz,
    which holds rank 0's running statistics (with ema: every rank's moving average, with
    rank 0's averaged statistics)."""
    run = train(*args(data_dir, tmp_path / "bn", "--model", "bn_cnn", "--epochs", 3,
                      "--batch-size", 16, "--threads", 1, *recipe), ranks=2)
    assert run.returncode == 0, run.stderr
    assert "MPI: 2 ranks" in run.stdout
    lines = [json.loads(line) for line in (tmp_path / "bn" / "metrics.jsonl").read_text().splitlines()]
    epochs, test = lines[:-1], lines[-1]
    assert epochs[-1]["train_loss"] < 0.5 * epochs[0]["train_loss"]
    assert test["test_accuracy"] > 0.8
    assert "bn5.running_var" in weights(tmp_path / "bn")
    alone = subprocess.run([sys.executable, str(TRAIN.parent / "evaluate.py"),
                            str(tmp_path / "bn" / "model.npz"), "--data-dir", str(data_dir),
                            "--no-verify", "--json", str(tmp_path / "alone.json")],
                           capture_output=True, text=True, timeout=300)
    assert alone.returncode == 0, alone.stderr
    figures = json.loads((tmp_path / "alone.json").read_text())
    assert figures["test_accuracy"] == test["test_accuracy"]
    # rounding differs (shards against one batch, BLAS threads); rank 1's own statistics
    # would be off by tens of per cent
    assert figures["test_loss"] == pytest.approx(test["test_loss"], rel=1e-4)


@needs_mpi
def test_ranks_flag_launches_mpiexec_and_dropout_is_reproducible(data_dir, tmp_path):
    runs = [train(*args(data_dir, tmp_path / name, "--model", "deep_cnn", "--epochs", 1,
                        "--train-limit", 200, "--ranks", 2)) for name in ("a", "b")]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    assert "MPI: 2 ranks" in runs[0].stdout
    for name, value in weights(tmp_path / "a").items():
        np.testing.assert_array_equal(weights(tmp_path / "b")[name], value)


@needs_mpi
@pytest.mark.parametrize("device_name", device_params("apart"))
def test_two_ranks_on_a_device_then_resume(data_dir, tmp_path, device_name):
    """Two ranks on array_api_strict's simulated device1, on PyTorch's tensors and on GPUs:
    train, resume, and get the run that never stopped."""
    device = ["--device", device_name]
    cut = train(*args(data_dir, tmp_path / "run", "--epochs", 1, *device), ranks=2)
    assert cut.returncode == 0, cut.stderr
    resumed = train("--resume", str(tmp_path / "run"), "--epochs", "2", ranks=2)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 1 of 2" in resumed.stdout
    full = train(*args(data_dir, tmp_path / "full", "--epochs", 2, *device), ranks=2)
    assert full.returncode == 0, full.stderr
    for name, value in weights(tmp_path / "full").items():
        np.testing.assert_array_equal(weights(tmp_path / "run")[name], value)


# Rank 1 fails in epoch 3: it raises (FAULT=raise) or is killed with SIGKILL (FAULT=kill).
FAULTY_RANK = """
import os, runpy, signal, sys
from lenet_xp.training.trainer import Trainer
from lenet_xp.training.communicators import launched_rank
epoch_of = Trainer.train_epoch
calls = []
def faulty(self):
    calls.append(1)
    if launched_rank() == 1 and len(calls) == 3:
        if os.environ["FAULT"] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise RuntimeError("simulated fault on rank 1")
    return epoch_of(self)
Trainer.train_epoch = faulty
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@needs_mpi
@pytest.mark.parametrize("fault", ["raise", "kill"])
def test_a_failing_rank_stops_the_run_and_keeps_the_checkpoint(data_dir, tmp_path, fault):
    os.environ["FAULT"] = fault
    try:
        start = time.monotonic()
        result = train(*args(data_dir, tmp_path / "run", "--epochs", 4), ranks=2,
                       prefix=("-c", FAULTY_RANK), timeout=120)
        elapsed = time.monotonic() - start
    finally:
        del os.environ["FAULT"]
    assert result.returncode != 0
    assert elapsed < 60, "the other rank did not wait forever"
    if fault == "raise":
        assert "error (MPI rank 1 of 2): simulated fault on rank 1" in result.stderr
    # rank 0 wrote epoch 1's checkpoint before rank 1 could start epoch 3 (they meet in every
    # step); epoch 2's may have been under way when the job was ended: either is whole
    checkpoint = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert checkpoint.meta["epoch"] in (1, 2)


@needs_mpi
def test_a_batch_smaller_than_the_ranks_is_refused(data_dir, tmp_path):
    result = train(*args(data_dir, tmp_path / "run", "--model", "lenet5_paper", "--epochs", 1),
                   ranks=2)
    assert result.returncode != 0
    assert "batch size 1 cannot be shared by 2 ranks: use at least 2" in result.stderr


@needs_mpi
@pytest.mark.parametrize("flags, code, message", [
    (["--recipe", "pieces=[[2]]"], 2, "error: bad recipe: pieces must be [[epochs, lr], ...]"),
    (["--data-dir", "/nonexistent/mnist"], 1, "error: MNIST files missing from /nonexistent/mnist"),
], ids=["bad-recipe", "missing-data"])
def test_a_run_that_cannot_start_on_ranks_says_so_once(data_dir, tmp_path, flags, code, message):
    """Every rank meets the problem while setting up; they agree, and rank 0 alone says it,
    as one process would: one line, its exit code, no MPI abort (the launcher is --ranks 2,
    what --ranks auto launches on a 2-core machine)."""
    result = subprocess.run([sys.executable, str(TRAIN), *args(data_dir, tmp_path / "run"),
                             "--epochs", "1", "--ranks", "2", *flags],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == code
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr
    assert result.stderr.startswith(message), result.stderr


def test_setting_up_together_shares_the_lowest_failing_rank_s_error(monkeypatch):
    """set_up_together seen from rank 1 of two, where rank 0 failed and rank 1 did not: rank
    1 raises rank 0's exception, marked as rank 0's, and leaves the reporting to rank 0."""
    from lenet_xp.training.communicators import reports_error, set_up_together

    class RankOneOfTwo:
        rank, size = 1, 2

        def allreduce(self, buffer):
            return buffer + np.eye(2)[0]  # what rank 0 adds: it failed

        def broadcast_object(self, value, root):
            assert value is None and root == 0  # rank 0's error comes from rank 0
            return ValueError("bad recipe")

    with pytest.raises(ValueError, match="bad recipe") as raised:
        with set_up_together(RankOneOfTwo()):
            pass  # rank 1 set up fine
    assert raised.value.from_rank == 0
    monkeypatch.setenv("PMI_RANK", "1")
    assert not reports_error(raised.value)
    monkeypatch.setenv("PMI_RANK", "0")
    assert reports_error(raised.value)
    with pytest.raises(KeyError):  # one process: the block's own exception, as it is
        with set_up_together(SingleProcess()):
            raise KeyError("lenet6")


# ---- stopping the launcher of --ranks 2 stops the job ----------------------------------------

def _job(out: Path) -> list[int]:
    """The processes whose command line names ``out``: the launcher, mpiexec, the ranks."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if str(out).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass  # ended meanwhile
    return found


def _launch_and_train(data_dir, out) -> subprocess.Popen:
    """``train.py --ranks 2`` in a session of its own (as a shell runs it), once it trains."""
    launcher = subprocess.Popen([sys.executable, str(TRAIN), *args(data_dir, out, "--epochs", 500,
                                                                    "--ranks", 2, "--threads", 2)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.npz").exists():  # rank 0 has finished an epoch
        assert launcher.poll() is None, launcher.communicate()
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.05)
    assert len(_job(out)) >= 4, "the launcher, mpiexec and two ranks"
    return launcher


def _gone(out, seconds=10.0) -> bool:
    deadline = time.monotonic() + seconds
    while _job(out):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@needs_mpi
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the job's processes in /proc")
@pytest.mark.parametrize("how, code", [("SIGTERM", 143), ("Ctrl-C", 130), ("SIGKILL", -9)])
def test_stopping_the_launcher_stops_mpiexec_and_the_ranks(data_dir, tmp_path, how, code):
    """Ctrl-C (SIGINT to the terminal's process group) and SIGTERM: one line, exit 128 + the
    signal, no traceback, every process gone, the folder let go. SIGKILL of the launcher: the
    ranks notice its end and stop themselves. Each time no rank goes on to write model.npz."""
    out = tmp_path / "run"
    launcher = _launch_and_train(data_dir, out)
    if how == "Ctrl-C":
        os.killpg(launcher.pid, signal.SIGINT)
    else:
        os.kill(launcher.pid, getattr(signal, how))
    _, stderr = launcher.communicate(timeout=60)
    assert launcher.returncode == code, stderr
    if how != "SIGKILL":
        assert stderr == (f"interrupted: {out} keeps the last finished epoch's checkpoint; "
                          f"continue with --resume {out}\n")
    assert _gone(out), f"left running: {_job(out)}"
    time.sleep(1.0)
    assert not (out / "model.npz").exists() and not (out / "run.lock").exists()
    load_checkpoint(out / "checkpoint.npz")  # whole
