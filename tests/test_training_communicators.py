"""lenet_xp.training.communicators: a failing MPI call is one line for the user (which call,
MPI's error class and string, what to do), on a fake MPI module and on a real 2-rank run of
``scripts/train.py --ranks 2`` whose ranks broadcast buffers of different sizes mid-training."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mnist_files import learnable_arrays, write_fake_mnist

from lenet_xp.cli.mpi_launch import mpiexec
from lenet_xp.runs.checkpoint import load_checkpoint
from lenet_xp.training.communicators import MPI_ERROR_FIX, MPIError, mpi_error

TRAIN = Path(__file__).resolve().parents[1] / "scripts" / "train.py"
needs_mpi = pytest.mark.skipif(mpiexec() is None or importlib.util.find_spec("mpi4py") is None,
                               reason="needs mpi4py and mpiexec: pip install 'lenet_xp[mpi]'")


class FakeMPI:
    """What mpi_error reads of mpi4py's MPI module: error classes, their strings."""

    ERR_TRUNCATE, ERR_OTHER = 14, 16
    ERRORS_RETURN = object()  # not an error class, though its name starts alike

    @staticmethod
    def Get_error_string(number):
        return {14: "Message truncated", 16: "Other MPI error", 99: "Unknown error"}[number]


class FakeException(Exception):
    """mpi4py's MPI.Exception: its str() is MPICH's error stack, many lines long."""

    def __init__(self, number):
        super().__init__("Message truncated, error stack:\nPMPI_Bcast(...) failed\nMPIC_Recv")
        self.number = number

    def Get_error_class(self):
        return self.number


def test_an_mpi_exception_becomes_one_line_naming_the_call_and_the_error():
    error = mpi_error("Bcast", FakeException(14), FakeMPI)
    assert isinstance(error, MPIError) and isinstance(error, RuntimeError)  # train.py's path
    assert str(error) == (f"MPI's Bcast failed: Message truncated (MPI_ERR_TRUNCATE); "
                          f"{MPI_ERROR_FIX}")
    assert str(mpi_error("Allreduce", FakeException(99), FakeMPI)) == (
        f"MPI's Allreduce failed: Unknown error (error class 99); {MPI_ERROR_FIX}")
    assert "\n" not in str(error) and "\n" not in MPI_ERROR_FIX


# On every rank, lenet_xp's communicator is changed before training starts: its 12th
# all-reduce (in epoch 2 or 3) is first a broadcast of 4 numbers from rank 0 into 2 on rank 1,
# which MPI refuses on rank 1 (MPI_ERR_TRUNCATE); rank 0 goes on into the all-reduce and waits.
# Python runs this file at start (sitecustomize, found on PYTHONPATH) in the ranks alone.
MISMATCHED_BROADCAST = """
import numpy as np
from lenet_xp.training import communicators

if communicators.launched_ranks() > 1:
    allreduce, calls = communicators.MPICommunicator.allreduce, []

    def mismatched(self, buffer):
        calls.append(1)
        if len(calls) == 12:
            self.broadcast(np.zeros(4 if self.rank == 0 else 2))
        return allreduce(self, buffer)

    communicators.MPICommunicator.allreduce = mismatched
"""


@needs_mpi
def test_a_failing_mpi_call_is_one_line_naming_the_rank(tmp_path):
    """It gave MPICH's error stack (a dozen lines of C functions); now the rank whose call
    failed says so in one line, MPI ends the job, and the launcher names no killed rank."""
    data = tmp_path / "data"
    write_fake_mnist(data, learnable_arrays(n_train=400, n_test=100))
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(MISMATCHED_BROADCAST, encoding="utf-8")
    out = tmp_path / "run"
    python_path = os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, str(TRAIN), "--data-dir", str(data), "--no-verify", "--no-download",
         "--val-size", "100", "--no-plot", "--no-progress", "--epochs", "6", "--ranks", "2",
         "--threads", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, "PYTHONPATH": python_path})
    assert result.returncode == 1, result.stderr
    line = (f"error (MPI rank 1 of 2): MPI's Bcast failed: Message truncated (MPI_ERR_TRUNCATE); "
            f"{MPI_ERROR_FIX}")
    errors = [said for said in result.stderr.splitlines() if "error" in said.lower()]
    assert errors == [line], result.stderr
    assert "error stack" not in result.stderr + result.stdout
    assert load_checkpoint(out / "checkpoint.npz").meta["epoch"] >= 1  # whole, and kept
