"""The model being trained, scored on a labelled dataset on its device: the mean loss and the
accuracy that validation, early stopping and the run's test report.

One process scores the whole dataset; each of several MPI ranks scores its shard and one
all-reduce sums the shards' loss and right answers, after every rank has taken rank 0's state
arrays (batch normalisation's running statistics, the ones that are saved). The forward
passes are the evaluation loop of inference (:func:`lenet_xp.inference.loop.score`), so
``scripts/evaluate.py`` prints the figure a run printed.
"""

from __future__ import annotations

from ..backend import to_numpy
from ..data import DeviceDataset
from ..inference.loop import EVAL_BATCH, score
from .communicators import SINGLE_PROCESS
from .data_parallel import shard


def evaluate(model, loss, dataset: DeviceDataset, comm=SINGLE_PROCESS,
             batch_size: int = EVAL_BATCH) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``dataset``, in evaluation mode, shared out over
    ``comm``'s ranks (default: one process); the sums are read back to the host once."""
    n = len(dataset)
    if comm.size == 1:
        scores = score(model, loss, dataset.images, dataset.labels, batch_size)
        return float(scores.loss_sum) / n, int(scores.correct(loss, dataset.labels)) / n
    for value in model.state_arrays().values():  # rank 0's running statistics for all
        value[...] = comm.broadcast(value)
    xp, where, dtype = dataset.backend.xp, dataset.backend.device, dataset.images.dtype
    start, stop = shard(n, comm.rank, comm.size)
    sums = xp.zeros((2,), dtype=dtype, device=where)
    if stop > start:  # a shard of no images adds nothing
        labels = dataset.labels[start:stop]
        scores = score(model, loss, dataset.images[start:stop, ...], labels, batch_size)
        sums = xp.stack([xp.asarray(scores.loss_sum, dtype=dtype, device=where),
                         xp.astype(scores.correct(loss, labels), dtype)])
    total = to_numpy(comm.allreduce(sums))
    return float(total[0]) / n, round(float(total[1])) / n
