"""How a run spreads its training step over the machine, decided in one place for training
runs and the benchmark alike: the CPU threads of each MPI rank, whether a rank splits its
share of every batch across them (:class:`CpuPlan`), and the step built from those choices
(:class:`TrainingStep`: SplitBatch inside DataParallel).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

from ..backend import Backend, available_cores
from .communicators import SingleProcess
from .data_parallel import DataParallel
from .loop import evaluate
from .split_batch import SplitBatch, choose_split
from .step import forward_backward, spawn_streams


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


@dataclasses.dataclass(frozen=True)
class CpuPlan:
    """How one rank uses the CPU: ``threads`` (None: the libraries' own), and whether each
    of its batch shares is ``split`` across them (one BLAS thread each) or they go to BLAS."""

    threads: int | None
    split: bool

    @classmethod
    def choose(cls, threads: int | None, ranks: int, batch_size: int, backend: Backend,
               split_batch: bool | None = None) -> "CpuPlan":
        """The plan of each of ``ranks`` ranks on ``backend`` for a job with ``threads`` CPU
        threads in all (:func:`threads_per_rank`; None: :func:`default_threads`) and batches
        of ``batch_size``: ``split_batch`` True or False decides, None splits where each thread
        gets enough of the rank's share (:func:`~lenet_xp.training.split_batch.choose_split`)."""
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


class TrainingStep:
    """A run's training step: ``step(x, y) -> (outputs, batch_loss)`` on the global batch,
    with dE/dθ of the batch's mean loss left in every ``grad``; and
    ``step.evaluate(model, loss, dataset) -> (mean loss, accuracy)``.

    A rank's share of each batch is one pass (:func:`~lenet_xp.training.step.forward_backward`)
    or, with ``workers`` > 1, split across that many threads
    (:class:`~lenet_xp.training.split_batch.SplitBatch`); over several ranks (``comm``),
    :class:`~lenet_xp.training.data_parallel.DataParallel` shares every batch out around it
    and evaluation is sharded. Random layers (dropout) first get a stream per rank, from
    which SplitBatch's replicas then spawn theirs. ``close()`` (or ``with``) stops the threads.
    """

    def __init__(self, model, loss, comm=None, workers: int = 1):
        comm = comm if comm is not None else SingleProcess()
        if comm.size > 1:
            spawn_streams(model, comm.rank)
        self.workers = workers
        self._split = SplitBatch(model, loss, workers) if workers > 1 else None
        one_rank = self._split or functools.partial(forward_backward, model, loss)
        if comm.size > 1:
            ranks = DataParallel(model, loss, comm, inner=self._split)
            self._step, self.evaluate = ranks, ranks.evaluate
        else:
            self._step, self.evaluate = one_rank, evaluate

    def __call__(self, x, y):
        return self._step(x, y)

    def close(self) -> None:
        if self._split is not None:
            self._split.close()

    def __enter__(self) -> "TrainingStep":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
