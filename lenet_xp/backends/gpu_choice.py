"""Which GPU a process computes on: an MPI rank's place on its host, mapped onto the GPUs it sees.

Every MPI launcher tells a process its rank among the ranks of its host (its *local* rank),
each in variables of its own (:data:`LAUNCHER_VARIABLES`); where none does, the MPI
communicator's shared-memory split gives the same (:mod:`lenet_xp.training.communicators`).
:func:`choose_gpu` then maps it onto the GPUs that this process can see, which are what the
library counts (a scheduler that gives each rank one GPU through ``CUDA_VISIBLE_DEVICES``
leaves it one, GPU 0):

- local rank r of a host with at least as many visible GPUs as ranks takes GPU r;
- with more ranks than GPUs, the ranks share them round-robin (GPU r mod G), and the
  choice says so in one line, unless the scheduler gave the rank a GPU of its own.

CuPy's and PyTorch's backends both ask :func:`choose_gpu` (``cuda``, ``torch:cuda``,
``torch:xpu``); a device string with a number (``cuda:1``) is taken as it is.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

#: each launcher's variables: (who sets them, local rank, ranks on the host or None)
LAUNCHER_VARIABLES = (
    ("Open MPI", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"),
    ("MPICH, Intel MPI (Hydra)", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
    ("MVAPICH2", "MV2_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_SIZE"),
    ("Cray PMI", "PMI_LOCAL_RANK", "PMI_LOCAL_SIZE"),
    ("HPE PALS (mpiexec on HPE Cray EX)", "PALS_LOCAL_RANKID", "PALS_LOCAL_SIZE"),
    ("IBM jsrun", "JSM_NAMESPACE_LOCAL_RANK", "JSM_NAMESPACE_LOCAL_SIZE"),
    ("Slurm srun", "SLURM_LOCALID", None),
    ("Flux", "FLUX_TASK_LOCAL_ID", None),
)

#: the variables by which a scheduler restricts the GPUs a process sees, per kind of hardware
VISIBLE_DEVICE_VARIABLES = {
    "cuda": ("CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"),
    "xpu": ("ZE_AFFINITY_MASK",),
}


@dataclasses.dataclass(frozen=True)
class HostRanks:
    """A process's place among the MPI ranks of its host: its local ``rank`` of ``size``."""

    rank: int = 0
    size: int = 1


ALONE = HostRanks()
"""A process that is no MPI rank, or the only one on its host."""


def launcher_host_ranks(environ: Mapping[str, str] = os.environ) -> tuple[int | None, int | None]:
    """(local rank, ranks on this host) from the first launcher whose local rank is set;
    either is None where no launcher says (Slurm and Flux give no count)."""
    for _, rank_name, size_name in LAUNCHER_VARIABLES:
        rank = environ.get(rank_name, "")
        if rank.isdigit():
            size = environ.get(size_name, "") if size_name else ""
            return int(rank), (int(size) if size.isdigit() and int(size) > 0 else None)
    return None, None


def given_one_gpu(hardware: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a scheduler restricted this process to one GPU (``CUDA_VISIBLE_DEVICES=3``):
    then it is the rank's own, whatever other ranks of the host see."""
    for name in VISIBLE_DEVICE_VARIABLES.get(hardware, ()):
        value = environ.get(name, "").strip()
        if value and len(value.split(",")) == 1:
            return True
    return False


def choose_gpu(visible: int, host: HostRanks, hardware: str = "cuda",
               environ: Mapping[str, str] = os.environ) -> tuple[int, str | None]:
    """(the GPU index to take among the ``visible`` ones, and the line that says the GPUs are
    shared, or None): local rank r takes GPU r mod ``visible``.

    The line comes where the host has more ranks than visible GPUs and the scheduler did not
    give this process a GPU of its own; every rank of the host gets it, rank 0 says it."""
    index = host.rank % visible
    if host.size <= visible or given_one_gpu(hardware, environ):
        return index, None
    return index, (f"{host.size} MPI ranks on this host share its {visible} GPU(s) "
                   f"round-robin (local rank r computes on GPU r mod {visible}): slower than "
                   f"a GPU each")
