"""A run's training step (lenet_xp.training.step), built once for runs and the benchmark: one
pass on one rank, split across threads, and dropout streams spawned for every copy of a model,
nested layers included (lenet_xp.training.passes)."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.layers import Dropout, Linear, ReLU, Sequential
from lenet_xp.losses import SoftmaxCrossEntropy
from lenet_xp.models import get_model
from lenet_xp.training.passes import forward_backward, random_layers, spawn_streams
from lenet_xp.training.scoring import evaluate
from lenet_xp.training.step import TrainingStep


def _lenet5(backend, n):
    spec = get_model("lenet5")
    model = spec.build(Random(0), "float64").to(backend)
    x = Random(1).normal(backend, (n, 1, 32, 32), dtype="float64")
    return model, spec.loss(), x, backend.asarray(np.arange(n) % 10)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_step_on_one_rank_is_one_pass(workers):
    backend = get_backend("cpu")
    model, loss, x, y = _lenet5(backend, 6)
    reference, _, _, _ = _lenet5(backend, 6)
    expected_outputs, expected_loss = forward_backward(reference, loss, x, y)
    with TrainingStep(model, loss, workers=workers) as step:
        outputs, batch_loss = step(x, y)
        assert step.evaluate is evaluate and step.workers == workers
    np.testing.assert_allclose(to_numpy(outputs), to_numpy(expected_outputs), rtol=1e-12)
    assert float(batch_loss) == pytest.approx(float(expected_loss), rel=1e-12)
    for name, param in model.parameters().items():
        np.testing.assert_allclose(to_numpy(param.grad),
                                   to_numpy(reference.parameters()[name].grad),
                                   rtol=1e-10, atol=1e-12, err_msg=name)


class TwoRanksSeenFromOne:
    """Rank ``rank`` of two, whose exchanges return its own buffer (enough to build a step)."""

    size = 2

    def __init__(self, rank):
        self.rank = rank

    def broadcast(self, buffer):
        return buffer

    def allreduce(self, buffer):
        return buffer


def _nested_dropout_model():
    inner = Sequential(Linear(4, 64, random=Random(1), dtype="float64"), ReLU(),
                       Dropout(0.5, random=Random(2)))
    return Sequential(("block", inner), ("out", Linear(64, 3, random=Random(3), dtype="float64")))


def test_random_layers_are_found_inside_nested_containers():
    model = _nested_dropout_model()
    assert random_layers(model) == [model["block"].layers[2]]


def test_each_rank_and_each_replica_draws_its_own_dropout_masks_in_nested_layers():
    backend = get_backend("cpu")
    x = backend.xp.ones((1, 4), dtype=backend.xp.float64)
    masks = []
    for rank in (0, 1):
        model = _nested_dropout_model()
        model.train()
        with TrainingStep(model, SoftmaxCrossEntropy(), TwoRanksSeenFromOne(rank)):
            (dropout,) = random_layers(model)
            assert dropout.random._key == rank  # spawned for the rank
            masks.append(to_numpy(model.forward(x)))
    assert not np.allclose(masks[0], masks[1]), "both ranks drew the same dropout mask"

    model, copy = _nested_dropout_model(), _nested_dropout_model()
    spawn_streams(copy, 1, source=model)
    assert random_layers(copy)[0].random is random_layers(model)[0].random._children[-1]
