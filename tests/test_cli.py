"""scripts/train.py as a user runs it: clear errors with non-zero exits, and a real short run."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest

from lenet_xp.backend import Random, available_cores, get_backend, to_numpy
from lenet_xp.data import PixelStats, load_mnist, normalise, pad_images, prepare_mnist
from lenet_xp.models import get_model
from lenet_xp.runs.checkpoint import load_checkpoint
from lenet_xp.training.placement import mpi_installed
from lenet_xp.training.scoring import evaluate
from mnist_files import learnable_arrays, write_fake_mnist

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train.py"


def train_cli(*args, env=None):
    """scripts/train.py in one process (--ranks 1: these tests read one process's lines)."""
    return subprocess.run([sys.executable, str(SCRIPT), "--no-progress", "--ranks", "1", *args],
                          capture_output=True, text=True, timeout=600, env=env)


def test_unknown_flag_and_bad_values_exit_2():
    result = train_cli("--epochz", "3")
    assert result.returncode == 2 and "unrecognized arguments: --epochz" in result.stderr
    result = train_cli("--model", "alexnet")
    assert result.returncode == 2 and "invalid choice: 'alexnet'" in result.stderr
    result = train_cli("--recipe", "colour=blue", "--data-dir", "/nonexistent")
    assert result.returncode == 2 and "unknown recipe field(s) colour" in result.stderr
    result = train_cli("--lr", "-1", "--data-dir", "/nonexistent")
    assert result.returncode == 2 and "lr must be > 0" in result.stderr
    result = train_cli("--threads", "0")
    assert result.returncode == 2 and "--threads: must be >= 1" in result.stderr
    result = train_cli("--split-batch", "--data-dir", "/nonexistent")
    assert result.returncode == 2 and "give --threads" in result.stderr


def test_cuda_without_a_gpu_is_one_clear_error(tmp_path):
    try:
        get_backend("cuda")
        pytest.skip("this machine has a usable GPU")
    except Exception:
        pass
    result = train_cli("--device", "cuda", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("error: device 'cuda'") and "--device cpu" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.torch
@pytest.mark.parametrize("device", ["torch:mps", "torch:cuda"])
def test_a_torch_gpu_this_machine_lacks_is_one_line_and_exit_2(device, tmp_path):
    import torch

    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU PyTorch can use")
    result = train_cli("--device", device, "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: device '{device}': this PyTorch")
    assert len(result.stderr.splitlines()) == 1 and "--device torch:cpu" in result.stderr


def test_output_to_a_pipe_has_epoch_lines_and_no_progress_bars(tmp_path):
    """Progress bars are for terminals: into a file or a pipe go the epoch lines alone."""
    write_fake_mnist(tmp_path / "data", learnable_arrays(n_train=300, n_test=50))
    result = subprocess.run([sys.executable, str(SCRIPT), "--data-dir", str(tmp_path / "data"),
                             "--no-verify", "--val-size", "50", "--epochs", "2",
                             "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and "\r" not in result.stdout
    epoch_lines = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 2 and "img/s" in epoch_lines[0]
    assert (tmp_path / "run" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_a_terminal_gets_progress_bars(tmp_path):
    write_fake_mnist(tmp_path / "data", learnable_arrays(n_train=300, n_test=50))
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    process = subprocess.Popen([sys.executable, str(SCRIPT), "--data-dir", str(tmp_path / "data"),
                                "--no-verify", "--val-size", "50", "--epochs", "1", "--no-plot",
                                "--out", str(tmp_path / "run")],
                               stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other end is closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert process.wait(timeout=300) == 0
    assert b"epoch 1/1" in seen and b"img/s" in seen, "tqdm's bar went to the terminal"


def test_missing_data_names_the_folder_and_exits_1(tmp_path):
    result = train_cli("--data-dir", str(tmp_path), "--no-download")
    assert result.returncode == 1 and str(tmp_path) in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("threads, threads_line", [
    ([], f"CPU threads: {available_cores()}, "),  # every core by default
    (["--threads", "2"], "CPU threads: 2, in the BLAS matrix products"),  # batch 64: no split
    (["--threads", "2", "--split-batch"], "CPU threads: 2, each batch split across them"),
], ids=["default-threads", "blas-threads", "split-batch"])
def test_short_real_run_learns_and_writes_its_files(shared_mnist, tmp_path, threads, threads_line):
    out = tmp_path / "run"
    result = train_cli("--data-dir", str(shared_mnist), "--epochs", "2", "--train-limit", "6000",
                       "--val-size", "1000", "--out", str(out), *threads)
    assert result.returncode == 0, result.stderr
    assert threads_line in result.stdout
    assert "epoch  2/2" in result.stdout and "test accuracy" in result.stdout
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records] == ["epoch", "epoch", "test"]
    assert records[-1]["test_accuracy"] >= 0.93, "6,000 images for 2 epochs give over 93 %"

    checkpoint = load_checkpoint(out / "model.npz")
    assert checkpoint.meta["model"] == "lenet5" and checkpoint.meta["epoch"] == 2
    backend = get_backend("cpu")
    spec = get_model("lenet5")
    model = spec.build(Random(123), "float32")
    model.load_state_dict(checkpoint.params)
    _, _, test = prepare_mnist(backend, shared_mnist, val_size=1000, seed=0)
    _, accuracy = evaluate(model, spec.loss(), test)
    assert accuracy == pytest.approx(records[-1]["test_accuracy"], abs=1e-9)
    # The checkpoint carries what new images need: the training pixels' mean and std.
    data = checkpoint.meta["data"]
    assert data["normalisation"] == "standard"
    raw = pad_images(load_mnist(shared_mnist).test_images[:50], data["input_size"])
    again = normalise(raw, "standard", PixelStats(**data["pixel_stats"]))
    np.testing.assert_allclose(again[:, None], to_numpy(test.images[:50]), rtol=1e-6, atol=1e-6)
    resumable = load_checkpoint(out / "checkpoint.npz")
    assert resumable.optimizer_state is not None and "rng_state" in resumable.meta
    assert np.isfinite(resumable.meta["metrics"]["train_loss"])


@pytest.mark.skipif(available_cores() < 2, reason="--ranks auto launches ranks on 2+ cores")
@pytest.mark.skipif(not mpi_installed(), reason="needs mpi4py and mpiexec: pip install 'lenet_xp[mpi]'")
def test_the_default_launches_mpi_ranks_and_says_so(tmp_path):
    """No flag: lenet5's batch of 64 on 2+ cores goes to 2 MPI ranks, said in the first line;
    --ranks 1 keeps one process."""
    write_fake_mnist(tmp_path / "data", learnable_arrays(n_train=300, n_test=50))
    common = [sys.executable, str(SCRIPT), "--data-dir", str(tmp_path / "data"), "--no-verify",
              "--val-size", "50", "--epochs", "1", "--no-plot", "--threads", "2"]
    auto = subprocess.run([*common, "--out", str(tmp_path / "auto")], capture_output=True,
                          text=True, timeout=300)
    assert auto.returncode == 0, auto.stderr
    first = auto.stdout.splitlines()[0]
    assert first.startswith("--ranks auto: 2 MPI ranks, each with 32+ images of every batch of 64")
    assert "MPI: 2 ranks" in auto.stdout and auto.stdout.count("test accuracy") == 1
    alone = subprocess.run([*common, "--out", str(tmp_path / "one"), "--ranks", "1"],
                           capture_output=True, text=True, timeout=300)
    assert alone.returncode == 0 and "MPI" not in alone.stdout and "--ranks auto" not in alone.stdout
