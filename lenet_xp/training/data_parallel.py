"""Data-parallel training on MPI ranks: every core, every GPU, every host.

Launch any lenet_xp script under MPI (``mpiexec -n 2 python scripts/train.py ...``, or let
``scripts/train.py --ranks 2`` do it) and the run is shared out, ChainerMN's way (the ranks
and their communicator: :mod:`lenet_xp.training.communicators`):

- every rank holds the whole (small) dataset and the same :class:`Random` state, so all
  ranks draw the same global batches, shifts and SDLM samples; each takes its share of every
  global batch (the recipe's batch size stays the global one, so N ranks take the steps of
  one process, up to float rounding);
- :class:`DataParallel` is the training step: the share's forward and backward pass, then one
  all-reduce of one flat buffer that holds the weighted gradients, the weighted loss and the
  share's outputs (so every rank gets the whole batch's outputs for its accuracy count);
- weights start identical (rank 0's are broadcast), evaluation is sharded and its sums
  reduced (:func:`lenet_xp.training.scoring.evaluate`), dropout draws a stream of its own
  per rank (:func:`lenet_xp.training.passes.spawn_streams`, key = rank);
- batch normalisation normalises each rank's share by the share's own statistics, as PyTorch's
  DistributedDataParallel does without SyncBatchNorm (so N ranks no longer take exactly the
  steps of one process); rank 0's running statistics are the ones saved, and they are
  broadcast before every sharded evaluation, so that all ranks score the saved model;
- only rank 0 prints and writes files.

The communicator is chosen once, at start; the training loop does not know there are ranks.
"""

from __future__ import annotations

import functools

from array_api_compat import array_namespace, device

from ..optim.flat import FlatParameters
from .passes import forward_backward


def shard(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rank ``rank``'s share [start, stop) of n items: contiguous, sizes differ by at most 1."""
    return n * rank // size, n * (rank + 1) // size


class DataParallel:
    """A training step over ranks: ``step(x, y) -> (outputs, batch_loss)`` on the global batch
    x (N, ...) and y (N,), as :func:`lenet_xp.training.passes.forward_backward` on one process.

    Rank r runs its share x[a:b] and weights its gradients by (b − a)/N; one all-reduce sums
    the weighted gradients (the gradient of the global mean loss), the weighted losses (the
    global mean loss) and the outputs (each rank fills its rows of an (N, K) block, the
    others are 0). Builds with rank 0's weights broadcast to all. ``inner`` computes the
    share's pass (default one :func:`~lenet_xp.training.passes.forward_backward`; a
    :class:`~lenet_xp.training.split_batch.SplitBatch` to split it across the rank's threads).
    Where the model draws random numbers (dropout), give each rank its streams first
    (:func:`~lenet_xp.training.passes.spawn_streams` with key = rank), or every rank draws the
    same masks for its share: :class:`~lenet_xp.training.step.TrainingStep` does both.
    """

    def __init__(self, model, loss, communicator, inner=None):
        self.model, self.loss, self.comm = model, loss, communicator
        self.inner = inner or functools.partial(forward_backward, model, loss)
        self.flat = FlatParameters(model.parameters().values())
        for param in self.flat.params:
            param.data = communicator.broadcast(param.data)

    def __call__(self, x, y):
        xp = array_namespace(x)
        n, size = x.shape[0], self.comm.size
        if n < size:
            raise ValueError(f"a batch of {n} cannot be shared by {size} ranks: use a batch size "
                             f"of at least {size} (and a dataset whose last batch is too)")
        start, stop = shard(n, self.comm.rank, size)
        outputs, batch_loss = self.inner(x[start:stop, ...], y[start:stop])
        weight = (stop - start) / n
        k = outputs.shape[1]
        where = device(x)
        block = [xp.zeros((start * k,), dtype=outputs.dtype, device=where),
                 xp.reshape(outputs, (-1,)),
                 xp.zeros(((n - stop) * k,), dtype=outputs.dtype, device=where)]
        weighted = xp.concat([self.flat.gradients(), xp.reshape(batch_loss, (1,))]) * weight
        total = self.comm.allreduce(xp.concat([weighted, *block]))
        size = self.flat.size
        self.flat.set_gradients(total[:size])
        return xp.reshape(total[size + 1:], (n, k)), total[size]
