"""One forward and backward pass over a batch (or a share of one), and the rule that gives
each copy of a model (a thread's replica, an MPI rank's) dropout masks of its own.

A pass maps a batch (x, y) to the model's outputs and the batch loss and leaves dE/dθ in
every parameter's ``grad``, for the optimiser to use. :func:`forward_backward` is the pass of
one process; :class:`~lenet_xp.training.split_batch.SplitBatch` (threads) and
:class:`~lenet_xp.training.data_parallel.DataParallel` (MPI ranks) share a batch out and give
the same step, up to float rounding; :class:`~lenet_xp.training.step.TrainingStep` puts them
together.
"""

from __future__ import annotations

from ..backend import Random


def forward_backward(model, loss, x, y):
    """One pass over the batch: returns ``(outputs, batch_loss)`` and fills every ``grad``."""
    outputs = model.forward(x)
    batch_loss = loss.forward(outputs, y)
    model.backward(loss.backward())
    return outputs, batch_loss


def random_layers(model) -> list:
    """The layers of ``model`` that draw random numbers (a :class:`Random` as their
    ``random``: dropout), in order, inside nested containers too."""
    if isinstance(getattr(model, "random", None), Random):
        return [model]
    return [layer for inner in getattr(model, "layers", ()) for layer in random_layers(inner)]


def spawn_streams(model, key: int, source=None) -> None:
    """Give each random layer of ``model`` a stream of its own, spawned with ``key`` from the
    same layer of ``source`` (default: ``model`` itself) and re-seeded from it every epoch
    (:meth:`Random.spawn`). ``source`` is the model that ``model`` was copied from (a
    :class:`~lenet_xp.training.split_batch.SplitBatch` replica, key = its index); on MPI
    ranks, which all hold the same generators, key = the rank."""
    for layer, original in zip(random_layers(model), random_layers(source or model), strict=True):
        layer.random = original.random.spawn(key=key)
