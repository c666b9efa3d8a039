"""The modern LeNet-5: ReLU after max-pooling computes what the textbook order computes."""

from __future__ import annotations

import numpy as np

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.layers import ReLU, Sequential
from lenet_xp.models import get_model


def _textbook_order(model: Sequential) -> Sequential:
    """The same layer objects as conv → ReLU → max-pool (ReLU before pooling)."""
    layer = model.__getitem__
    return Sequential(layer("C1"), ReLU(), layer("S2"), layer("C3"), ReLU(), layer("S4"),
                      *(layer(name) for name in ("C5", "A5", "flatten", "F6", "A6", "OUT")))


def test_relu_after_max_pool_matches_the_textbook_order(backend_name):
    backend = get_backend(backend_name)
    model = get_model("lenet5").build(Random(0), "float64").to(backend)
    # Biases of both signs, and a blank top half: the convolutions then give runs of equal
    # values there, positive or negative, so the pools see ties on both sides of zero.
    for name in ("C1.bias", "C3.bias"):
        bias = model.parameters()[name]
        bias.data = backend.asarray(np.linspace(-0.2, 0.2, bias.shape[0]))
    images = np.random.default_rng(5).standard_normal((3, 1, 32, 32))
    images[:, :, :16, :] = 0.5
    x = backend.asarray(images)
    dy = backend.asarray(np.random.default_rng(6).standard_normal((3, 10)))

    y = model.forward(x)
    model.backward(dy)
    grads = {name: to_numpy(p.grad) for name, p in model.parameters().items()}
    textbook = _textbook_order(model)
    y_textbook = textbook.forward(x)
    textbook.backward(dy)

    np.testing.assert_array_equal(to_numpy(y), to_numpy(y_textbook))
    for name, param in model.parameters().items():
        np.testing.assert_array_equal(grads[name], to_numpy(param.grad), err_msg=name)
    pooled = to_numpy(model["S2"].forward(model["C1"].forward(x)))
    assert (pooled > 0).any() and (pooled < 0).any()
