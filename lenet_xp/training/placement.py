"""Where a run computes, decided in one place for ``scripts/train.py``, its MPI launcher, the
run itself and the benchmark: the device, the MPI ranks, the CPU threads and whether each
batch is split across them.

What a user asks is a :class:`Placement` (``auto`` and None leave a choice to the machine):
:meth:`Placement.launch` chooses the ranks ``scripts/train.py`` launches,
:meth:`Placement.checked` checks it for the device before a run is set up, and
:meth:`Placement.rank_plan` makes the remaining choices for each rank from the cores, the
device and the batch size (:class:`CpuPlan`). The rules, each measured on the 2-vCPU AMD EPYC
(docs/benchmarks.md):

- **ranks** (``--ranks auto``, :func:`auto_ranks`): N MPI ranks that each take a share of
  every batch train faster than one process whose threads share the cores, while each share
  holds :data:`MIN_RANK_SHARE` images or more; so ``auto`` launches
  ``min(cores, batch // MIN_RANK_SHARE)`` ranks where that is 2 or more, MPI is installed and
  the device computes on this host's cores, else one process. Only the command line launches
  ranks: a library call (``lenet_xp.training.run``), a sweep's worker and a process that
  already is an MPI rank run on the ranks they were started on;
- **threads**: the job's CPU threads (default every core where lenet_xp sets the library's
  threads, :attr:`~lenet_xp.backend.Backend.cpu_threads`; never more than the cores,
  :func:`fit_threads`), shared out evenly between the ranks (:func:`threads_per_rank`);
- **split** (:func:`choose_split`): a rank splits its share of every batch across its threads
  (:class:`~lenet_xp.training.split_batch.SplitBatch`, one BLAS thread each) where each
  thread gets :data:`SPLIT_MIN_SLICE` images or more, else leaves its threads to BLAS.

Which GPU each rank takes is the backend's choice (:mod:`lenet_xp.backends.gpu_choice`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable

from ..backend import DEVICE_STRINGS, Backend, available_cores
from ..settings import setting
from .communicators import mpiexec

MIN_RANK_SHARE = 16
"""Images of every batch each rank needs for N ranks to beat one process's threads (measured:
docs/benchmarks.md, "--ranks auto")."""

SPLIT_MIN_SLICE = 64
"""Images per thread from which a batch is split across a rank's threads: below it the slices
are too small to pay for the threads' hand-offs (measured: docs/benchmarks.md)."""


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a run computes, as asked: ``auto`` and None leave the choice to the machine
    (:meth:`launch`, :meth:`rank_plan`). A resumed run may change every one."""

    device: str = setting("cpu", DEVICE_STRINGS, free=True)
    ranks: int | str = setting(
        "auto", "launch the run on N MPI ranks on this machine (mpiexec -n N ...), each with "
        "its share of every batch; auto: several on a multi-core CPU where MPI is installed "
        f"and each rank gets at least {MIN_RANK_SHARE} images of every batch, else 1 (one "
        "process)", free=True, at_least=1, auto=True)
    threads: int | None = setting(
        None, "the run's CPU threads, shared out between its MPI ranks: numpy's BLAS threads, "
        "or the threads each batch is split across", free=True, at_least=1, shown="every core")
    split: bool | None = setting(
        None, "split each batch across the --threads threads, one BLAS thread each, or never",
        key="split_batch", flag="switch", free=True,
        shown=f"split where every thread gets at least {SPLIT_MIN_SLICE} images (batch "
              f"{2 * SPLIT_MIN_SLICE} and up with 2 threads), else BLAS threads")

    def launch(self, backend: Backend, batch_size: int) -> tuple[int, str]:
        """(ranks, why): the MPI ranks ``scripts/train.py`` launches for a run on ``backend``
        with batches of ``batch_size`` (``auto``: :func:`auto_ranks`; why is empty for a
        number given)."""
        if self.ranks == "auto":
            return auto_ranks(backend, batch_size, self.threads)
        return int(self.ranks), ""

    def problems(self, backend: Backend) -> list[str]:
        """Why this placement cannot run on ``backend`` (empty: it can)."""
        return split_batch_problems(self.threads, backend) if self.split else []

    def checked(self, backend: Backend, log: Callable[[str], None] = print) -> Placement:
        """This placement checked for ``backend`` and its threads capped at the cores, saying
        so with ``log`` (:func:`fit_threads`). Raises ValueError where it cannot run
        (:meth:`problems`). What is left to the machine (``auto``, None) stays so: a resumed
        run decides again where it runs."""
        problems = self.problems(backend)
        if problems:
            raise ValueError("; ".join(problems))
        if not backend.cpu_threads:
            return self
        return dataclasses.replace(self, threads=fit_threads(self.threads, log))

    def rank_plan(self, backend: Backend, batch_size: int, ranks: int) -> CpuPlan:
        """How each of ``ranks`` ranks (the ones the run was launched on) uses the CPU for
        batches of ``batch_size`` on ``backend`` (:meth:`CpuPlan.choose`)."""
        return CpuPlan.choose(self.threads, ranks, batch_size, backend, self.split)


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


def fit_threads(threads: int | None, log: Callable[[str], None]) -> int | None:
    """``threads`` CPU threads asked for, capped at the cores this process may use (saying so
    with ``log``): threads beyond the cores only wait for each other, and a run on 64 threads
    of 2 cores is tens to hundreds of times slower. None (the libraries' own) stays None."""
    cores = available_cores()
    if threads is None or threads <= cores:
        return threads
    log(f"--threads {threads} is more than the {cores} cores this process may use: using "
        f"{cores} (threads beyond the cores only wait for each other)")
    return cores


def default_threads(backend: Backend) -> int | None:
    """A job's CPU threads when none are asked for: every core where lenet_xp sets the
    backend's threads (:attr:`~lenet_xp.backend.Backend.cpu_threads`), else None (the
    library's own). The same for training runs and the benchmark."""
    return available_cores() if backend.cpu_threads else None


def threads_per_rank(threads: int | None, ranks: int) -> int | None:
    """Each rank's CPU threads when a job of ``ranks`` ranks has ``threads`` in all: shared out
    evenly, at least one each. None (the libraries' own threads) stays None."""
    return None if threads is None else max(1, threads // ranks)


def choose_split(split_batch: bool | None, threads: int | None, batch_size: int,
                 backend: Backend) -> bool:
    """Whether batches of ``batch_size`` are split across ``threads`` CPU threads on ``backend``.

    ``split_batch`` True or False decides; None splits where lenet_xp sets the backend's CPU
    threads (:attr:`~lenet_xp.backend.Backend.cpu_threads`: numpy, torch:cpu), two or more are
    asked for and each gets at least :data:`SPLIT_MIN_SLICE` images, and otherwise leaves the
    threads to the library (BLAS).
    """
    if split_batch is not None:
        return split_batch
    return bool(backend.cpu_threads and threads is not None and threads > 1
                and batch_size >= SPLIT_MIN_SLICE * threads)


def split_batch_problems(threads: int | None, backend: Backend) -> list[str]:
    """Why a batch split across ``threads`` CPU threads cannot run on ``backend`` (empty: it
    can)."""
    problems = []
    if threads is None:
        problems.append("--split-batch needs --threads N: each batch is split across N threads; "
                        "give --threads")
    if backend.is_gpu:
        problems.append("--split-batch is for the CPU: on a GPU one step already keeps the "
                        f"device busy; leave it out with --device {backend.name}")
    return problems


@dataclasses.dataclass(frozen=True)
class CpuPlan:
    """How one rank uses the CPU: ``threads`` (None: the libraries' own), and whether each
    of its batch shares is ``split`` across them (one BLAS thread each) or they go to BLAS."""

    threads: int | None
    split: bool

    @classmethod
    def choose(cls, threads: int | None, ranks: int, batch_size: int, backend: Backend,
               split_batch: bool | None = None) -> CpuPlan:
        """The plan of each of ``ranks`` ranks on ``backend`` for a job with ``threads`` CPU
        threads in all (:func:`threads_per_rank`; None: :func:`default_threads`) and batches
        of ``batch_size``: ``split_batch`` True or False decides, None splits where each thread
        gets enough of the rank's share (:func:`choose_split`)."""
        mine = threads_per_rank(threads if threads is not None else default_threads(backend), ranks)
        return cls(mine, choose_split(split_batch, mine, batch_size // ranks, backend))

    @property
    def workers(self) -> int:
        """The threads each share is split across (1: no split)."""
        return (self.threads or 1) if self.split else 1

    @property
    def blas_threads(self) -> int | None:
        """numpy's BLAS threads: one per worker when shares are split, else all of them."""
        return 1 if self.workers > 1 else self.threads

    def apply(self, backend: Backend) -> None:
        """Set ``backend``'s threads (numpy's BLAS, PyTorch's intra-op pool) to
        :attr:`blas_threads` (left alone when the plan has no thread count)."""
        if self.blas_threads is not None:
            backend.limit_threads(self.blas_threads)
