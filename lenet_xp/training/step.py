"""A run's training step, built once from its placement for runs and the benchmark alike:
one pass over each batch, split across a rank's threads
(:class:`~lenet_xp.training.split_batch.SplitBatch`), shared out over MPI ranks
(:class:`~lenet_xp.training.data_parallel.DataParallel`) around it, and the evaluation that
goes with it (:func:`lenet_xp.training.scoring.evaluate`, sharded over the same ranks).
"""

from __future__ import annotations

import functools

from .communicators import SINGLE_PROCESS
from .data_parallel import DataParallel
from .passes import forward_backward, spawn_streams
from .scoring import evaluate
from .split_batch import SplitBatch


class TrainingStep:
    """A run's training step: ``step(x, y) -> (outputs, batch_loss)`` on the global batch,
    with dE/dθ of the batch's mean loss left in every ``grad``; and
    ``step.evaluate(model, loss, dataset) -> (mean loss, accuracy)``. ``model`` and ``loss``
    are the ones it trains.

    A rank's share of each batch is one pass (:func:`~lenet_xp.training.passes.forward_backward`)
    or, with ``workers`` > 1, split across that many threads
    (:class:`~lenet_xp.training.split_batch.SplitBatch`); over several ranks (``comm``),
    :class:`~lenet_xp.training.data_parallel.DataParallel` shares every batch out around it
    and evaluation is sharded. Random layers (dropout) first get a stream per rank, from
    which SplitBatch's replicas then spawn theirs. ``close()`` (or ``with``) stops the threads.
    """

    def __init__(self, model, loss, comm=SINGLE_PROCESS, workers: int = 1):
        if comm.size > 1:
            spawn_streams(model, comm.rank)
        self.model, self.loss, self.workers = model, loss, workers
        self._split = SplitBatch(model, loss, workers) if workers > 1 else None
        one_rank = self._split or functools.partial(forward_backward, model, loss)
        self._step = (DataParallel(model, loss, comm, inner=self._split) if comm.size > 1
                      else one_rank)
        self.evaluate = evaluate if comm.size == 1 else functools.partial(evaluate, comm=comm)

    def __call__(self, x, y):
        return self._step(x, y)

    def close(self) -> None:
        if self._split is not None:
            self._split.close()

    def __enter__(self) -> TrainingStep:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
