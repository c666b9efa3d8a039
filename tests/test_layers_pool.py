"""Pooling: values against a reshape reference, and max-pool ties."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.gradcheck import check_backward
from lenet_xp.layers import AvgPool2d, MaxPool2d, Subsample2d


def _windows(x):
    """(N, C, 2H, 2W) -> (N, C, H, W, 4): each 2×2 window's values in row-major order."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)


def test_max_and_average_values(backend_name, window_path):
    backend = get_backend(backend_name)
    x = Random(0).normal(backend, (2, 3, 6, 8), dtype="float64")
    windows = _windows(to_numpy(x))
    np.testing.assert_array_equal(to_numpy(MaxPool2d(2).forward(x)), windows.max(-1))
    np.testing.assert_allclose(to_numpy(AvgPool2d(2).forward(x)), windows.mean(-1), rtol=1e-14)


def test_subsample_is_coefficient_times_window_sum_plus_bias(backend_name, window_path):
    backend = get_backend(backend_name)
    layer = Subsample2d(3, random=Random(0)).to(backend, "float64")
    x = Random(1).normal(backend, (2, 3, 4, 4), dtype="float64")
    a, b = to_numpy(layer.coefficient.data), to_numpy(layer.bias.data)
    expected = _windows(to_numpy(x)).sum(-1) * a[:, None, None] + b[:, None, None]
    np.testing.assert_allclose(to_numpy(layer.forward(x)), expected, rtol=1e-14)


def _tied_input(backend):
    """Integers in {0, 1, 2}: most 2×2 windows hold a tie for their maximum."""
    values = np.random.default_rng(3).integers(0, 3, size=(2, 2, 6, 6)).astype(np.float64)
    return values, backend.asarray(values)


def test_max_pool_ties_send_the_gradient_to_the_first_maximum_once(backend_name, window_path):
    backend = get_backend(backend_name)
    values, x = _tied_input(backend)
    pool = MaxPool2d(2)
    y = pool.forward(x)
    assert (pool._first is not None) == (window_path == "gathered"), "the path asked for is taken"
    dy = Random(4).normal(backend, tuple(y.shape), dtype="float64")
    dx = _windows(to_numpy(pool.backward(dy)))
    windows = _windows(values)
    first_max = np.argmax(windows, axis=-1)  # numpy's argmax returns the first maximum
    assert (windows == windows.max(-1, keepdims=True)).sum(-1).max() > 1, "the input has ties"
    expected = np.zeros_like(windows)
    np.put_along_axis(expected, first_max[..., None], to_numpy(dy)[..., None], axis=-1)
    np.testing.assert_array_equal(dx, expected)


def test_max_pool_ties_match_finite_differences_once_broken_towards_the_first(backend_name, window_path):
    """Adding a bonus smaller than the gaps, largest for the first window position, breaks each
    tie the way the layer does; the gradient must not change and must match finite differences."""
    backend = get_backend(backend_name)
    values, x = _tied_input(backend)
    bonus = np.tile(np.array([[4.0, 3.0], [2.0, 1.0]]), (3, 3)) * 1e-3
    broken = backend.asarray(values + bonus)
    pool = MaxPool2d(2)
    dy = Random(4).normal(backend, (2, 2, 3, 3), dtype="float64")
    pool.forward(x)
    dx_tied = to_numpy(pool.backward(dy))
    pool.forward(broken)
    np.testing.assert_array_equal(to_numpy(pool.backward(dy)), dx_tied)
    check_backward(pool, broken, eps=1e-5)


def test_overlapping_max_pool_ties_add_each_window_gradient_at_its_first_maximum(backend_name):
    """3×3 windows with stride 2 share rows and columns: an input that is the first maximum
    of two windows gets both gradients; a tied window still passes its gradient on once."""
    backend = get_backend(backend_name)
    values = np.random.default_rng(5).integers(0, 3, size=(2, 2, 7, 7)).astype(np.float64)
    pool = MaxPool2d(3, 2)
    pool.forward(backend.asarray(values))
    dy = np.random.default_rng(6).normal(size=(2, 2, 3, 3))
    expected = np.zeros_like(values)
    for n, c, p, q in np.ndindex(dy.shape):
        window = values[n, c, 2 * p:2 * p + 3, 2 * q:2 * q + 3]
        i, j = np.unravel_index(np.argmax(window), window.shape)  # the first maximum
        expected[n, c, 2 * p + i, 2 * q + j] += dy[n, c, p, q]
    dx = to_numpy(pool.backward(backend.asarray(dy)))
    np.testing.assert_allclose(dx, expected, rtol=1e-14, atol=1e-15)  # sums in another order


@pytest.mark.parametrize("layer", [MaxPool2d(2), AvgPool2d(2)])
def test_pool_needs_four_dimensions(layer):
    with pytest.raises(ValueError, match=r"expects input \(N, C, H, W\)"):
        layer.forward(np.zeros((4, 4)))
