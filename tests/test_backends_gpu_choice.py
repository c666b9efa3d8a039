"""Which GPU an MPI rank computes on (lenet_xp.backends.gpu_choice, training.communicators'
host_ranks and rank_backend), with every launcher's environment faked: one GPU per local rank,
one visible GPU per rank (CUDA_VISIBLE_DEVICES), more ranks than GPUs (round-robin, said in one
line), CuPy and PyTorch alike; and MPI's shared-memory split on 2 real ranks."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from lenet_xp.backend import ALONE, HostRanks, get_backend
from lenet_xp.backends.gpu_choice import (LAUNCHER_VARIABLES, VISIBLE_DEVICE_VARIABLES,
                                         choose_gpu, launcher_host_ranks)
from lenet_xp.cli.mpi_launch import mpiexec
from lenet_xp.training.communicators import host_ranks, rank_backend
from fake_gpus import fake_cupy, fake_torch_cuda

#: the variables a test environment must not bring along
_LAUNCHER_NAMES = [name for _, rank, size in LAUNCHER_VARIABLES for name in (rank, size) if name]
_WORLD = {"PMI_SIZE": "4", "PMI_RANK": "3"}  # what marks a process as one of 4 MPI ranks


class FakeComm:
    """A communicator of ``size`` ranks whose shared-memory split gives ``split``."""

    def __init__(self, size: int, split: tuple[int, int] = (0, 1)):
        self.size, self.split, self.asked = size, split, 0

    def host_ranks(self):
        self.asked += 1
        return self.split


@pytest.fixture
def environment(monkeypatch, fresh_backends):
    """A clean environment: no launcher's or scheduler's variables; returns a setter."""
    for name in [*_LAUNCHER_NAMES, *(v for vs in VISIBLE_DEVICE_VARIABLES.values() for v in vs)]:
        monkeypatch.delenv(name, raising=False)

    def set_variables(variables: dict) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
    return set_variables


@pytest.mark.parametrize("launcher, rank_name, size_name", LAUNCHER_VARIABLES,
                         ids=[launcher for launcher, _, _ in LAUNCHER_VARIABLES])
def test_every_launcher_s_local_rank_is_read(launcher, rank_name, size_name):
    environ = {rank_name: "3", **({size_name: "4"} if size_name else {})}
    assert launcher_host_ranks(environ) == (3, 4 if size_name else None)


def test_no_launcher_no_local_rank():
    assert launcher_host_ranks({"PMI_RANK": "1", "SLURM_LOCALID": "x"}) == (None, None)


@pytest.mark.parametrize("rank, size, visible, environ, gpu, shared", [
    (0, 1, 1, {}, 0, False),                                        # one process
    (1, 2, 2, {}, 1, False),                                        # a GPU per local rank
    (3, 4, 8, {}, 3, False),
    (1, 2, 1, {"CUDA_VISIBLE_DEVICES": "1"}, 0, False),             # the scheduler's one GPU each
    (5, 8, 1, {"ROCR_VISIBLE_DEVICES": "GPU-5f2a"}, 0, False),      # AMD, by UUID
    (1, 2, 1, {}, 0, True),                                         # 2 ranks, 1 GPU: shared
    (3, 4, 2, {"CUDA_VISIBLE_DEVICES": "0,1"}, 1, True),            # 4 ranks, 2 GPUs
    (2, 4, 2, {}, 0, True),
])
def test_local_ranks_map_onto_the_visible_gpus(rank, size, visible, environ, gpu, shared):
    index, note = choose_gpu(visible, HostRanks(rank, size), "cuda", environ)
    assert index == gpu
    if shared:
        assert note.startswith(f"{size} MPI ranks on this host share its {visible} GPU(s) "
                               "round-robin") and "\n" not in note
    else:
        assert note is None


def test_the_host_s_ranks_come_from_the_launcher_else_from_mpi(environment):
    comm = FakeComm(size=4, split=(1, 2))
    assert host_ranks(FakeComm(size=1)) == ALONE  # one process asks nobody
    environment({"OMPI_COMM_WORLD_LOCAL_RANK": "3", "OMPI_COMM_WORLD_LOCAL_SIZE": "4"})
    assert host_ranks(comm) == HostRanks(3, 4) and comm.asked == 0
    environment({"OMPI_COMM_WORLD_LOCAL_RANK": "", "SLURM_LOCALID": "0"})  # srun: no count
    assert host_ranks(comm) == HostRanks(1, 2) and comm.asked == 1
    environment({"SLURM_LOCALID": ""})  # a launcher that says nothing
    assert host_ranks(comm) == HostRanks(1, 2) and comm.asked == 2


@pytest.mark.parametrize("library", ["cupy", "torch"])
@pytest.mark.parametrize("variables, gpus, expected, shared", [
    ({"SLURM_LOCALID": "1", **_WORLD}, 2, 1, False),                # srun, a GPU each
    ({"PALS_LOCAL_RANKID": "3", "PALS_LOCAL_SIZE": "4", **_WORLD}, 4, 3, False),
    ({"MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2", "CUDA_VISIBLE_DEVICES": "1", **_WORLD},
     1, 0, False),                                                  # the scheduler's one GPU
    ({"MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2", **_WORLD}, 1, 0, True),  # 2 ranks, 1 GPU
    ({"PMI_LOCAL_RANK": "3", "PMI_LOCAL_SIZE": "4", **_WORLD}, 2, 1, True),
])
def test_cupy_and_torch_take_the_rank_s_gpu(environment, monkeypatch, library, variables,
                                           gpus, expected, shared):
    """`--device cuda` and `--device torch:cuda` on MPI ranks choose alike; the 2-rank test on
    a machine with one GPU runs both ranks on it, and says so."""
    fake_cupy(monkeypatch, gpus) if library == "cupy" else fake_torch_cuda(monkeypatch, gpus)
    environment(variables)
    comm = FakeComm(size=4, split=(1, 2))  # SLURM_LOCALID alone gives no count: MPI's split
    spec = "cuda" if library == "cupy" else "torch:cuda"
    backend = rank_backend(spec, comm)
    assert backend.name == f"{spec}:{expected}" and backend.index == expected
    assert (backend.note is not None) == shared
    assert rank_backend(f"{spec}:0", comm).name == f"{spec}:0"  # a number given is kept


def test_each_mpi_rank_makes_its_gpu_current(environment, monkeypatch):
    """CuPy launches kernels on the current device: the rank's backend makes its GPU current,
    and its generator is made there."""
    used = fake_cupy(monkeypatch, gpus=2)
    environment({"MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2", **_WORLD})
    backend = rank_backend("cuda", FakeComm(size=2))
    assert backend.name == "cuda:1" and backend.is_gpu and backend.draws_on_device
    backend.use()
    assert used[-1] == 1
    assert backend.generator(7) == ("generator", 7) and used[-1] == ("with", 1)
    assert get_backend("cuda") is not backend, "one process alone takes cuda:0"


def test_a_run_says_once_that_its_ranks_share_a_gpu(environment, monkeypatch, tmp_path):
    """The line of a shared GPU reaches the run's output (rank 0 prints it)."""
    from lenet_xp.data import DataError
    from lenet_xp.training import IO, Experiment, Placement, RunConfig

    fake_cupy(monkeypatch, gpus=1)
    monkeypatch.setattr("lenet_xp.backends.cupy_backend.CupyBackend.dtype",
                        lambda self, name: name)  # the fake computes nothing
    environment({"OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"})
    comm = FakeComm(size=2)
    comm.rank = 0
    lines = []
    with pytest.raises(DataError):  # no data there: the run stops after choosing its device
        config = RunConfig(placement=Placement(device="cuda"),
                           io=IO(data_dir=str(tmp_path), download=False, out=None))
        Experiment(*config.resolve(comm, lines.append), comm, lines.append)
    assert lines == ["note: 2 MPI ranks on this host share its 1 GPU(s) round-robin (local rank "
                     "r computes on GPU r mod 1): slower than a GPU each"]


SPLIT = """
import os
from lenet_xp.backends.gpu_choice import LAUNCHER_VARIABLES
from lenet_xp.training.communicators import create_communicator, host_ranks
for _, rank, size in LAUNCHER_VARIABLES:  # as a launcher that says nothing would leave them
    os.environ.pop(rank, None)
    os.environ.pop(size or "", None)
comm = create_communicator()
place = host_ranks(comm)
print(f"rank {comm.rank}: {place.rank} of {place.size}", flush=True)
"""


@pytest.mark.skipif(mpiexec() is None or not __import__("importlib").util.find_spec("mpi4py"),
                    reason="needs mpi4py and mpiexec: pip install 'lenet_xp[mpi]'")
def test_mpi_s_shared_memory_split_places_ranks_without_launcher_variables():
    done = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-c", SPLIT],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # (the launcher may interleave the two ranks' lines)
    assert sorted(re.findall(r"rank \d: \d of \d", done.stdout)) == [
        "rank 0: 0 of 2", "rank 1: 1 of 2"]
