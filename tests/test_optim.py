"""Optimisers: each update against its formula, on every backend; decay, masks, resuming."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lenet_xp.backend import get_backend, to_numpy
from lenet_xp.layers import Parameter
from lenet_xp.optim import SGD, AdaGrad, Adam, schedules

W0 = np.array([1.0, -2.0, 0.5])
GRADS = [np.array([0.5, -1.0, 0.25]), np.array([-0.2, 0.4, 1.0]), np.array([0.1, 0.1, -0.3])]


def reference(name, lr=0.1):
    """The textbook update rules in plain numpy, three steps from W0 with GRADS."""
    w, v, m, s = W0.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        if name == "sgd":
            w = w - lr * g
        elif name == "momentum":
            v = 0.9 * v + g
            w = w - lr * v
        elif name == "nesterov":
            v = 0.9 * v + g
            w = w - lr * (g + 0.9 * v)
        elif name == "adagrad":
            s = s + g * g
            w = w - lr * g / (np.sqrt(s) + 1e-10)
        elif name == "adam":
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            w = w - lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return w


OPTIMISERS = {
    "sgd": lambda p: SGD(p, lr=0.1),
    "momentum": lambda p: SGD(p, lr=0.1, momentum=0.9),
    "nesterov": lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    "adagrad": lambda p: AdaGrad(p, lr=0.1),
    "adam": lambda p: Adam(p, lr=0.1),
}


def _run(name, backend, steps=GRADS, optimiser=None):
    param = Parameter(backend.asarray(W0))
    optimiser = optimiser or OPTIMISERS[name]([param])
    for g in steps:
        param.grad = backend.asarray(g)
        optimiser.step()
    return param, optimiser


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_update_matches_formula(name, backend_name):
    param, _ = _run(name, get_backend(backend_name))
    np.testing.assert_allclose(to_numpy(param.data), reference(name), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_minimises_a_quadratic(name):
    """E = ½‖w − c‖², dE/dw = w − c: every optimiser must end near c."""
    backend = get_backend("cpu")
    target = np.array([3.0, -1.0, 2.0])
    param = Parameter(backend.asarray(W0))
    optimiser = OPTIMISERS[name]([param])
    for _ in range(500):
        param.grad = param.data - target
        optimiser.step()
    np.testing.assert_allclose(to_numpy(param.data), target, atol=0.05)


def test_weight_decay_applies_to_weights_not_biases():
    backend = get_backend("cpu")
    weight = Parameter(backend.asarray(W0))
    bias = Parameter(backend.asarray(W0), decay=False)
    optimiser = SGD([weight, bias], lr=0.1, weight_decay=0.01)
    weight.grad = bias.grad = backend.asarray(GRADS[0])
    optimiser.step()
    np.testing.assert_allclose(to_numpy(weight.data), W0 - 0.1 * (GRADS[0] + 0.01 * W0))
    np.testing.assert_allclose(to_numpy(bias.data), W0 - 0.1 * GRADS[0])


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_masked_entries_stay_zero(name):
    backend = get_backend("cpu")
    mask = backend.asarray(np.array([1.0, 0.0, 1.0]))
    param = Parameter(backend.asarray(W0) * mask, mask=mask)
    optimiser = OPTIMISERS[name]([param])
    optimiser.weight_decay = 0.1
    for g in GRADS:
        param.grad = backend.asarray(g) * mask
        optimiser.step()
    assert to_numpy(param.data)[1] == 0.0 and param.size == 2


@pytest.mark.parametrize("name", ["momentum", "adam", "adagrad"])
def test_resuming_from_state_dict_continues_the_same_trajectory(name):
    backend = get_backend("cpu")
    param, optimiser = _run(name, backend, steps=GRADS[:2])
    saved, saved_w = optimiser.state_dict(), to_numpy(param.data).copy()
    fresh = Parameter(backend.asarray(saved_w))
    resumed = OPTIMISERS[name]([fresh])
    resumed.load_state_dict(saved)
    for p, opt in ((param, optimiser), (fresh, resumed)):
        p.grad = backend.asarray(GRADS[2])
        opt.step()
    np.testing.assert_array_equal(to_numpy(fresh.data), to_numpy(param.data))
    np.testing.assert_allclose(to_numpy(fresh.data), reference(name), rtol=1e-12)


@pytest.mark.parametrize("name, damage, message", [
    ("adam", lambda saved: saved["state"][0].pop("v"), "parameter 0's state has m, not m, v"),
    ("adam", lambda saved: saved["state"][0].update(u=np.zeros(3)), "has m, u, v, not m, v"),
    ("momentum", lambda saved: saved["state"][0].update(velocity=np.zeros(4)),
     "parameter 0's velocity has shape (4,), the parameter (3,)"),
    ("adagrad", lambda saved: saved.update(lr=float("nan")), "lr must be a finite number > 0"),
    ("adam", lambda saved: saved.update(iterations=-1), "iterations must be an integer >= 0"),
    ("adam", lambda saved: saved["state"].append({}), "is for 2 parameters, this model has 1"),
])
def test_damaged_state_is_refused_before_anything_changes(name, damage, message):
    backend = get_backend("cpu")
    _, optimiser = _run(name, backend, steps=GRADS[:2])
    saved = optimiser.state_dict()
    damage(saved)
    fresh = OPTIMISERS[name]([Parameter(backend.asarray(W0))])
    with pytest.raises(ValueError, match=re.escape(message)):
        fresh.load_state_dict(saved)
    assert fresh.iterations == 0 and fresh.state == [{}], "nothing was loaded"


def test_bad_arguments_are_refused():
    param = Parameter(np.zeros(3))
    with pytest.raises(ValueError, match="lr > 0"):
        SGD([param], lr=0.0)
    with pytest.raises(ValueError, match="no parameters"):
        Adam([], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        SGD([param], lr=0.1, nesterov=True)


def test_schedules():
    assert [schedules.Constant(0.1)(e) for e in (0, 9)] == [0.1, 0.1]
    step = schedules.Step(1.0, step_size=3, gamma=0.5)
    assert [step(e) for e in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    exponential = schedules.Exponential(2.0, gamma=0.5)
    assert [exponential(e) for e in range(3)] == [2.0, 1.0, 0.5]
    paper = schedules.Piecewise([(2, 5e-4), (3, 2e-4), (3, 1e-4), (4, 5e-5), (1, 1e-5)])
    assert [paper(e) for e in range(14)] == [5e-4] * 2 + [2e-4] * 3 + [1e-4] * 3 + [5e-5] * 4 + [1e-5] * 2
    with pytest.raises(ValueError):
        schedules.Piecewise([])
