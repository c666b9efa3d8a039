"""SplitBatch: a batch split across threads gives the step one pass over the whole batch gives."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.layers import Dropout, Linear, ReLU, Sequential
from lenet_xp.losses import SoftmaxCrossEntropy
from lenet_xp.models import get_model
from lenet_xp.optim import SGD
from lenet_xp.training.passes import forward_backward
from lenet_xp.training.split_batch import SplitBatch


def _lenet5_batch(backend, n: int, seed: int = 0):
    spec = get_model("lenet5")
    model = spec.build(Random(seed), "float64").to(backend)
    x = Random(seed + 1).normal(backend, (n, 1, 32, 32), dtype="float64")
    y = backend.asarray(np.arange(n) % 10)
    return model, spec.loss(), x, y


def _grads(model) -> dict:
    return {name: to_numpy(p.grad).copy() for name, p in model.parameters().items()}


@pytest.mark.parametrize("n, workers", [(6, 2), (5, 2), (7, 3), (1, 2)])
def test_split_step_equals_one_pass(backend_name, n, workers):
    """Even and uneven slices, and a batch smaller than the number of workers."""
    backend = get_backend(backend_name)
    model, loss, x, y = _lenet5_batch(backend, n)
    outputs, batch_loss = forward_backward(model, loss, x, y)
    expected_outputs, expected_loss, expected = to_numpy(outputs), float(batch_loss), _grads(model)
    for p in model.parameters().values():
        p.grad = None
    with SplitBatch(model, loss, workers) as step:
        outputs, batch_loss = step(x, y)
    np.testing.assert_allclose(to_numpy(outputs), expected_outputs, rtol=1e-12, atol=1e-12)
    assert float(batch_loss) == pytest.approx(expected_loss, rel=1e-12)
    for name, grad in _grads(model).items():
        np.testing.assert_allclose(grad, expected[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_replicas_follow_optimiser_updates_and_loaded_weights():
    backend = get_backend("cpu")
    model, loss, x, y = _lenet5_batch(backend, 8)
    reference, _, _, _ = _lenet5_batch(backend, 8)
    optimizer = SGD(model.parameters(), lr=0.1)
    with SplitBatch(model, loss, 2) as step:
        step(x, y)
        optimizer.step()  # updates in place
        reference.load_state_dict(model.state_dict())
        model.load_state_dict(reference.state_dict())  # replaces the arrays
        step(x, y)
    forward_backward(reference, loss, x, y)
    for name, grad in _grads(model).items():
        np.testing.assert_allclose(grad, to_numpy(reference.parameters()[name].grad),
                                   rtol=1e-10, atol=1e-12, err_msg=name)


def test_dropout_replicas_draw_their_own_masks():
    backend = get_backend("cpu")
    model = Sequential(Linear(4, 64, random=Random(1), dtype="float64"), ReLU(),
                       Dropout(0.5, random=Random(2)), Linear(64, 3, random=Random(3), dtype="float64"))
    half = Random(4).normal(backend, (1, 4), dtype="float64")
    x = backend.xp.concat([half, half], axis=0)  # two identical samples, one per worker
    with SplitBatch(model, SoftmaxCrossEntropy(), 2) as step:
        outputs, _ = step(x, backend.asarray(np.array([0, 1])))
    outputs = to_numpy(outputs)
    assert not np.allclose(outputs[0], outputs[1]), "both workers used the same dropout mask"


def test_workers_must_be_positive():
    model, loss, _, _ = _lenet5_batch(get_backend("cpu"), 2)
    with pytest.raises(ValueError, match="workers >= 1"):
        SplitBatch(model, loss, 0)
