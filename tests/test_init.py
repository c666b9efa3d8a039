"""Initialisers: the spread each promises, bounds, and seeded reproducibility on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lenet_xp import init
from lenet_xp.backend import Random, to_numpy
from lenet_xp.layers import Conv2d, Linear

FAN_IN, FAN_OUT, SHAPE = 150, 400, (200, 150)


@pytest.mark.parametrize("name,std", [
    ("he_normal", math.sqrt(2 / FAN_IN)),
    ("he_uniform", math.sqrt(6 / FAN_IN) / math.sqrt(3)),
    ("xavier_normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("xavier_uniform", math.sqrt(6 / (FAN_IN + FAN_OUT)) / math.sqrt(3)),
    ("lecun_uniform", 2.4 / FAN_IN / math.sqrt(3)),
    ("fan_in_uniform", 1 / math.sqrt(FAN_IN) / math.sqrt(3)),
])
def test_standard_deviation(name, std):
    w = to_numpy(init.initialize(name, Random(0), SHAPE, FAN_IN, FAN_OUT))
    assert w.dtype == np.float32 and w.shape == SHAPE
    assert abs(w.mean()) < 0.03 * std  # five standard errors of the mean
    assert w.std() == pytest.approx(std, rel=0.02)


@pytest.mark.parametrize("name,bound", [
    ("he_uniform", math.sqrt(6 / FAN_IN)),
    ("xavier_uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("lecun_uniform", 2.4 / FAN_IN),
    ("fan_in_uniform", 1 / math.sqrt(FAN_IN)),
])
def test_uniform_bounds(name, bound):
    w = to_numpy(init.initialize(name, Random(0), SHAPE, FAN_IN, FAN_OUT))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound


def test_gaussian_has_a_fixed_spread():
    w = to_numpy(init.initialize(init.Gaussian(0.01), Random(0), SHAPE, FAN_IN, FAN_OUT, "float64"))
    assert w.dtype == np.float64 and w.std() == pytest.approx(0.01, rel=0.02)


def test_unknown_initialiser_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown initialiser 'glorot'"):
        init.initialize("glorot", Random(0), SHAPE, FAN_IN, FAN_OUT)


def test_same_seed_same_weights_on_every_backend(backend_name):
    reference = to_numpy(Conv2d(1, 6, 5, random=Random(42)).weight.data)
    moved = Conv2d(1, 6, 5, random=Random(42)).to(backend_name)
    np.testing.assert_array_equal(to_numpy(moved.weight.data), reference)
    other_seed = to_numpy(Conv2d(1, 6, 5, random=Random(43)).weight.data)
    assert not np.array_equal(other_seed, reference)


def test_layers_use_their_fan_in():
    layer = Linear(300, 100, init="lecun_uniform", random=Random(0))
    assert np.abs(to_numpy(layer.weight.data)).max() <= 2.4 / 300


def test_gaussian_by_name_and_bad_sigmas():
    assert repr(init.get_initializer("gaussian:0.05")) == "Gaussian(0.05)"
    assert init.get_initializer("he_normal") is init.he_normal
    for bad in ("gaussian:", "gaussian:0", "gaussian:-1", "gaussian:x"):
        with pytest.raises(ValueError, match="gaussian:SIGMA"):
            init.get_initializer(bad)
