"""Random shifts: whole-pixel rolls, bounded, seeded, on every backend."""

from __future__ import annotations

import numpy as np

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.data import random_shift


def _images(backend):
    host = np.zeros((16, 1, 12, 12), dtype=np.float32)
    host[:, :, 4:8, 4:8] = np.arange(16, dtype=np.float32).reshape(16, 1, 1, 1) + 1
    return host, backend.asarray(host)


def test_each_image_is_its_own_roll_within_the_bound(backend_name):
    host, images = _images(get_backend(backend_name))
    shifted = to_numpy(random_shift(images, 2, Random(0), groups=4))
    shifts = set()
    for original, moved in zip(host, shifted):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(np.roll(original, (dy, dx), axis=(1, 2)), moved)]
        assert matches, "every output is the input rolled by at most 2 pixels"
        shifts.add(matches[0])
    assert len(shifts) > 1, "groups get different shifts"


def test_same_seed_same_shifts_and_zero_is_identity(backend_name):
    _, images = _images(get_backend(backend_name))
    first = to_numpy(random_shift(images, 3, Random(5)))
    np.testing.assert_array_equal(to_numpy(random_shift(images, 3, Random(5))), first)
    assert random_shift(images, 0, Random(5)) is images
