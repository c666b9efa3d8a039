"""Zoom2d (LeNet-1's 16×16 digits) and RepeatMaps (LeNet-4's paired S2 maps): what they do to
a picture, beyond the gradient checks of layer_cases."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import get_backend, to_numpy
from lenet_xp.layers import RepeatMaps, Zoom2d
from lenet_xp.layers.zoom import zoom_matrix

from backends import device_params


def test_zoom_matrix_rows_average_and_scale_one_is_the_identity():
    for size, scale in [(28, 0.8), (29, 1.3), (5, 0.5)]:
        np.testing.assert_allclose(zoom_matrix(size, scale).sum(axis=1), 1.0, rtol=1e-12)
        assert np.all(zoom_matrix(size, scale) >= 0)
    np.testing.assert_array_equal(zoom_matrix(7, 1.0), np.eye(7))


@pytest.mark.parametrize("device", device_params("end_to_end"))
def test_a_20x20_digit_box_becomes_16x16_about_the_centre(device):
    image = np.full((1, 1, 28, 28), -0.1)  # "lecun" background
    image[..., 4:24, 4:24] = 1.175  # MNIST's 20×20 box, centred
    backend = get_backend(device)
    y = to_numpy(Zoom2d(28, 0.8, dtype="float64").to(backend).forward(backend.asarray(image)))[0, 0]
    ink = np.flatnonzero(y[14] > -0.1 + 1e-9)
    assert (ink.min(), ink.max()) == (6, 21)  # 16 columns, rows alike
    np.testing.assert_allclose(y[6:22, 6:22], 1.175, rtol=1e-12)
    np.testing.assert_allclose(y[:5], -0.1, rtol=1e-12)  # the background stays background
    np.testing.assert_allclose(y, y.T, rtol=1e-12)


def test_zoom_and_repeat_errors():
    with pytest.raises(ValueError, match=r"expects input \(N, C, 28, 28\), got \(1, 1, 32, 32\)"):
        Zoom2d(28, 0.8).forward(np.zeros((1, 1, 32, 32), dtype=np.float32))
    with pytest.raises(ValueError, match="scale > 0"):
        Zoom2d(28, 0.0)
    with pytest.raises(ValueError, match="copies >= 1"):
        RepeatMaps(0)


def test_repeat_maps_puts_each_maps_copies_side_by_side():
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float64).reshape(2, 3, 2, 2)
    y = RepeatMaps(2).forward(x)
    assert y.shape == (2, 6, 2, 2)
    for c in range(3):
        np.testing.assert_array_equal(y[:, 2 * c], x[:, c])
        np.testing.assert_array_equal(y[:, 2 * c + 1], x[:, c])
