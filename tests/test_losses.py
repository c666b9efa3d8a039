"""Losses: gradients and curvatures by finite differences, stability, and backends."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.gradcheck import assert_close, check_loss, numerical_jacobian
from lenet_xp.losses import MeanSquaredError, SoftmaxCrossEntropy


def _inputs(backend_name, loss_name):
    backend = get_backend(backend_name)
    outputs = Random(0).normal(backend, (4, 5), std=2.0, dtype="float64")
    if loss_name == "cross_entropy":
        return backend, SoftmaxCrossEntropy(), outputs, backend.asarray(np.array([0, 3, 4, 3]))
    return backend, MeanSquaredError(), outputs, Random(1).normal(backend, (4, 5), dtype="float64")


@pytest.mark.parametrize("loss_name", ["cross_entropy", "mse"])
def test_gradient_matches_finite_differences(backend_name, loss_name):
    _, loss, outputs, targets = _inputs(backend_name, loss_name)
    check_loss(loss, outputs, targets)


@pytest.mark.parametrize("loss_name", ["cross_entropy", "mse"])
def test_curvature_is_the_hessian_diagonal(backend_name, loss_name):
    backend, loss, outputs, targets = _inputs(backend_name, loss_name)
    loss.forward(outputs, targets)
    curvature = loss.curvature()

    def gradient():
        loss.forward(outputs, targets)
        return loss.backward()

    hessian = numerical_jacobian(gradient, outputs)  # (4, 5, 4, 5)
    diagonal = np.einsum("ijij->ij", to_numpy(hessian))
    assert_close(curvature, backend.asarray(diagonal), "curvature", rtol=1e-5, atol=1e-8)


def test_cross_entropy_values(backend_name):
    backend, loss, outputs, labels = _inputs(backend_name, "cross_entropy")
    z = to_numpy(outputs)
    expected = np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(4), to_numpy(labels)])
    assert float(loss.forward(outputs, labels)) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(to_numpy(loss.predict(outputs)), z.argmax(1))


def test_cross_entropy_is_stable_for_huge_logits(backend_name):
    backend = get_backend(backend_name)
    logits = backend.asarray(np.array([[1000.0, -1000.0, 0.0], [0.0, 800.0, 900.0]]), dtype=backend.xp.float32)
    labels = backend.asarray(np.array([0, 1]))
    loss = SoftmaxCrossEntropy()
    value = float(loss.forward(logits, labels))
    assert value == pytest.approx(50.0, rel=1e-6)  # (0 + 100) / 2: only the second is wrong
    assert np.all(np.isfinite(to_numpy(loss.backward())))


def test_mse_value(backend_name):
    _, loss, outputs, targets = _inputs(backend_name, "mse")
    expected = np.mean((to_numpy(outputs) - to_numpy(targets)) ** 2)
    assert float(loss.forward(outputs, targets)) == pytest.approx(expected, rel=1e-12)


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="expected logits"):
        SoftmaxCrossEntropy().forward(np.zeros((4, 3)), np.zeros(5, dtype=np.int64))
    with pytest.raises(ValueError, match="differ in shape"):
        MeanSquaredError().forward(np.zeros((4, 3)), np.zeros((4, 2)))
