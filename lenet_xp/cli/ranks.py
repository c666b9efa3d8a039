"""``--ranks auto``, the default of ``scripts/train.py`` and ``scripts/bench.py``: how many MPI
ranks to launch on this host.

On a CPU with several cores, N MPI ranks that each take a share of every batch train faster
than one process whose threads share the cores (each rank runs the whole step, where threads
speed up only parts of it; docs/benchmarks.md). They gain only while each rank's share stays
large enough: :data:`MIN_RANK_SHARE` images. So ``auto`` launches
``min(cores, batch // MIN_RANK_SHARE)`` ranks where that is 2 or more, MPI is installed and
the device computes on this host's cores; otherwise one process. Only the command line
decides this, once, before anything runs: a library call (``lenet_xp.training.run``), a
sweep's worker and a process that already is an MPI rank never launch ranks.
"""

from __future__ import annotations

import importlib.util

from ..backend import Backend, available_cores
from .mpi_launch import mpiexec

MIN_RANK_SHARE = 16
"""Images of every batch each rank needs for N ranks to beat one process's threads. Measured
on the idle 2-vCPU AMD EPYC (docs/benchmarks.md, "--ranks auto"): 2 ranks trained lenet5
11–18 % faster than one process's threads at batches of 16 to 128 (8 to 64 images a rank),
and 5 % at batch 8, within the noise; 16 keeps a margin."""


def parse_ranks(text: str):
    """``--ranks`` value: ``auto`` or a positive integer (argparse type)."""
    from .argtypes import positive_int

    return "auto" if text.strip().lower() == "auto" else positive_int(text)


def mpi_installed() -> bool:
    """mpi4py and an ``mpiexec`` are both there (``pip install "lenet_xp[mpi]"``)."""
    return mpiexec() is not None and importlib.util.find_spec("mpi4py") is not None


def auto_ranks(backend: Backend, batch_size: int, threads: int | None = None) -> tuple[int, str]:
    """(ranks, why) for a run on ``backend`` with batches of ``batch_size`` and ``threads``
    CPU threads in all (None: every core): see the module docstring."""
    if not backend.cpu_threads:
        return 1, f"one process: {backend.name} does not compute on this host's cores"
    cores = threads or available_cores()
    if cores < 2:
        return 1, "one process: one core"
    ranks = min(cores, batch_size // MIN_RANK_SHARE)
    if ranks < 2:
        return 1, (f"one process: a batch of {batch_size} leaves fewer than {MIN_RANK_SHARE} "
                   "images to each of 2 ranks")
    if not mpi_installed():
        return 1, 'one process: MPI is not installed (pip install "lenet_xp[mpi]")'
    return ranks, (f"{ranks} MPI ranks, each with {batch_size // ranks}+ images of every batch "
                   f"of {batch_size}, on {cores} cores (--ranks 1: one process)")
