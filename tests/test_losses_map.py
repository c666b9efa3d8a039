"""LeNet-5's MAP criterion (eq. 9) and softmax cross-entropy on RBF penalties."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.gradcheck import assert_close, check_loss, numerical_jacobian
from lenet_xp.losses import MAPLoss, RBFCrossEntropy

LABELS = [0, 3, 4, 3, 1, 2]
LOSSES = {
    "map": MAPLoss,
    "map_j5": lambda: MAPLoss(j=5.0),
    "rbf_cross_entropy": RBFCrossEntropy,
}


def _inputs(backend_name, scale=3.0):
    backend = get_backend(backend_name)
    # penalties are squared distances: non-negative, a few units apart
    penalties = Random(0).uniform(backend, (6, 5), 0.0, scale, dtype="float64")
    return backend, penalties, backend.asarray(np.array(LABELS))


def reference_map(y, labels, j):
    """Equation 9 written out in numpy."""
    y = np.asarray(y, dtype=np.float64)
    correct = y[np.arange(len(labels)), labels]
    return np.mean(correct + np.log(np.exp(-j) + np.exp(-y).sum(axis=1)))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_matches_finite_differences(backend_name, name):
    _, penalties, labels = _inputs(backend_name)
    check_loss(LOSSES[name](), penalties, labels)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_curvature_is_the_hessian_diagonal(backend_name, name):
    backend, penalties, labels = _inputs(backend_name)
    loss = LOSSES[name]()
    loss.forward(penalties, labels)
    curvature = loss.curvature()

    def gradient():
        loss.forward(penalties, labels)
        return loss.backward()

    hessian = to_numpy(numerical_jacobian(gradient, penalties))  # (6, 5, 6, 5)
    diagonal = np.einsum("ijij->ij", hessian)
    assert np.all(to_numpy(curvature) >= 0)
    assert_close(curvature, backend.asarray(diagonal), "curvature", rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("j", [0.1, 1.0, 20.0])
def test_map_value_is_equation_9(backend_name, j):
    _, penalties, labels = _inputs(backend_name)
    value = float(MAPLoss(j=j).forward(penalties, labels))
    assert value == pytest.approx(reference_map(to_numpy(penalties), LABELS, j), rel=1e-12)


def test_map_gradient_formula():
    """dE/dy = (onehot − q)/N with q the softmax over (−y_1, …, −y_K, −j)."""
    _, penalties, labels = _inputs("cpu")
    loss = MAPLoss(j=0.5)
    loss.forward(penalties, labels)
    y = to_numpy(penalties)
    logits = np.concatenate([-y, np.full((6, 1), -0.5)], axis=1)
    q = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = (np.eye(5)[LABELS] - q[:, :5]) / 6
    np.testing.assert_allclose(to_numpy(loss.backward()), expected, rtol=1e-12)


def test_map_is_non_negative_and_zero_only_at_a_perfect_answer():
    """E ≥ y_D + log e^{−y_D} = 0 for every sample (the paper: "this loss is positive")."""
    backend = get_backend("cpu")
    for seed in range(5):
        penalties = Random(seed).uniform(backend, (50, 10), 0.0, 100.0, dtype="float64")
        labels = backend.asarray(np.arange(50) % 10)
        assert float(MAPLoss().forward(penalties, labels)) > 0
    perfect = np.full((1, 10), 1e4)
    perfect[0, 7] = 0.0
    # the rubbish class keeps it above 0 by log(1 + e^{−j}), nothing else remains
    value = float(MAPLoss(j=30.0).forward(perfect, np.array([7])))
    assert value == pytest.approx(np.log1p(np.exp(-30.0)), abs=1e-15)


def test_map_is_stable_for_huge_penalties(backend_name):
    backend = get_backend(backend_name)
    penalties = backend.asarray(np.array([[5000.0, 6000.0, 7000.0], [1e-3, 9000.0, 800.0]]),
                                dtype=backend.xp.float32)
    labels = backend.asarray(np.array([0, 0]))
    loss = MAPLoss(j=0.1)
    value = float(loss.forward(penalties, labels))
    # first sample: 5000 + log(e^{−0.1} + ~0) = 4999.9; second: 1e-3 + log(e^{−0.1} + e^{−1e-3})
    expected = (5000.0 - 0.1 + 1e-3 + np.log(np.exp(-0.1) + np.exp(-1e-3))) / 2
    assert value == pytest.approx(expected, rel=1e-6)
    for array in (loss.backward(), loss.curvature()):
        assert np.all(np.isfinite(to_numpy(array)))


def test_large_j_turns_map_into_cross_entropy_on_negative_penalties(backend_name):
    _, penalties, labels = _inputs(backend_name)
    map_loss, cross_entropy = MAPLoss(j=60.0), RBFCrossEntropy()
    assert float(map_loss.forward(penalties, labels)) == pytest.approx(
        float(cross_entropy.forward(penalties, labels)), rel=1e-12)
    cross_entropy_value = np.mean(-np.log(np.exp(-to_numpy(penalties))[np.arange(6), LABELS]
                                          / np.exp(-to_numpy(penalties)).sum(axis=1)))
    assert float(cross_entropy.forward(penalties, labels)) == pytest.approx(cross_entropy_value,
                                                                            rel=1e-12)
    np.testing.assert_allclose(to_numpy(map_loss.backward()), to_numpy(cross_entropy.backward()),
                               atol=1e-15)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_prediction_is_the_smallest_penalty(backend_name, name):
    _, penalties, _ = _inputs(backend_name)
    np.testing.assert_array_equal(to_numpy(LOSSES[name]().predict(penalties)),
                                  to_numpy(penalties).argmin(axis=1))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="positive"):
        MAPLoss(j=0.0)
    with pytest.raises(ValueError, match="expected penalties"):
        MAPLoss().forward(np.zeros((4, 3)), np.zeros(5, dtype=np.int64))
