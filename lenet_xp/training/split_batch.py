"""The training step on CPU threads: each batch split across W threads.

:class:`SplitBatch` cuts the batch into W slices and runs the slices at once on W threads,
each through its own replica of the model (the replicas share the parameter values, not their
caches). numpy releases the GIL in its loops and BLAS calls, so the slices run on separate
cores; this parallelises the whole step, where a multi-threaded BLAS only parallelises the
matrix products. At small batches the slices are too small to gain
(:func:`lenet_xp.training.placement.choose_split`; the measurements are in docs/benchmarks.md,
"How --threads N uses the cores").

The batch loss is a mean over the batch, so with slice sizes n_w summing to N:

    E = Σ_w (n_w / N) E_w         dE/dθ = Σ_w (n_w / N) dE_w/dθ

which is what :class:`SplitBatch` returns and leaves in ``grad``: the same step as one pass
(:func:`lenet_xp.training.passes.forward_backward`) over the whole batch, up to float
rounding. Batch normalisation is the exception: each slice is normalised by its own
statistics (as each MPI rank's share is, see :mod:`lenet_xp.layers.batchnorm`), and the
running statistics are those of worker 0's slices. Run it with one BLAS thread per worker
(``scripts/train.py --threads 2 --split-batch`` does), or the two kinds of thread compete.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

from array_api_compat import array_namespace

from .passes import forward_backward, spawn_streams


class SplitBatch:
    """A training step that splits each batch across ``workers`` threads.

    ``step = SplitBatch(model, loss, workers=2)`` then ``outputs, batch_loss = step(x, y)``
    behaves like :func:`forward_backward` (outputs concatenated in batch order). Worker 0 runs
    ``model`` itself; the others run deep copies whose parameters are pointed at ``model``'s
    arrays before every step, so optimiser updates and loaded weights reach them. Layers that
    draw random numbers (dropout) get an independent stream per replica, spawned from the
    layer's own (:func:`lenet_xp.training.passes.spawn_streams`, key = the replica). Call
    :meth:`close` (or use ``with``) to stop the threads.
    """

    def __init__(self, model, loss, workers: int):
        if workers < 1:
            raise ValueError(f"SplitBatch needs workers >= 1, got {workers}")
        self.model, self.loss, self.workers = model, loss, workers
        self.replicas = [(model, loss)]
        for index in range(1, workers):
            replica = copy.deepcopy(model)
            spawn_streams(replica, index, source=model)
            self.replicas.append((replica, copy.deepcopy(loss)))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lenet_xp-split")

    def __enter__(self) -> SplitBatch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown()

    def __call__(self, x, y):
        xp = array_namespace(x)
        n = x.shape[0]
        parts = min(self.workers, n)
        bounds = [n * k // parts for k in range(parts + 1)]
        replica_params = [replica.parameters() for replica, _ in self.replicas[:parts]]
        shared = replica_params[0]  # self.model's own
        for (replica, _), params in zip(self.replicas[1:parts], replica_params[1:], strict=True):
            replica.train(self.model.training)
            for name, param in params.items():
                param.data = shared[name].data
        futures = [self._pool.submit(forward_backward, replica, loss,
                                     x[bounds[k]:bounds[k + 1], ...], y[bounds[k]:bounds[k + 1]])
                   for k, (replica, loss) in enumerate(self.replicas[:parts])]
        results = [future.result() for future in futures]
        if parts == 1:
            return results[0]
        weights = [(bounds[k + 1] - bounds[k]) / n for k in range(parts)]
        for name, param in shared.items():
            grad = weights[0] * param.grad
            for weight, params in zip(weights[1:], replica_params[1:], strict=True):
                grad = grad + weight * params[name].grad
            param.grad = grad
        batch_loss = sum(weight * part_loss for weight, (_, part_loss) in zip(weights, results, strict=True))
        outputs = xp.concat([outputs for outputs, _ in results], axis=0)
        return outputs, batch_loss
