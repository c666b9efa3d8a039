"""Finite-difference checks of hand-written backward passes (use float64 inputs).

``check_backward(layer, x)`` compares ``layer.backward`` with central differences of the
scalar E = Σ y·u for a fixed random u (so every output element takes part), for the input and
for every parameter. ``check_curvature(layer, x, h)`` compares ``layer.backward_curvature``
with the Gauss-Newton rule each layer implements: given the diagonal h of d²E/dy², the
diagonal for a variable v is Σ_o h_o (∂y_o/∂v)², with the Jacobian taken by central
differences. ``check_loss`` does the same for a loss's gradient.
"""

from __future__ import annotations

import itertools
import math

from array_api_compat import array_namespace

from .backend import Random, backend_of


def _indices(shape):
    return itertools.product(*(range(n) for n in shape))


def numerical_gradient(f, x, eps: float = 1e-6):
    """dF/dx for a scalar function F() of the array x, perturbing x in place (then restoring)."""
    xp = array_namespace(x)
    grad = xp.zeros_like(x)
    for index in _indices(x.shape):
        # a copy: whether x[index] is a view is left open by the standard (torch: it is)
        original = xp.asarray(x[index], copy=True)
        x[index] = original + eps
        plus = float(f())
        x[index] = original - eps
        minus = float(f())
        x[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def numerical_jacobian(f, x, eps: float = 1e-6):
    """J[o..., k...] = ∂f()_o / ∂x_k: shape f().shape + x.shape."""
    xp = array_namespace(x)
    columns = []
    for index in _indices(x.shape):
        original = xp.asarray(x[index], copy=True)  # not a view (see numerical_gradient)
        x[index] = original + eps
        plus = xp.asarray(f(), copy=True)  # f() may return a view of x
        x[index] = original - eps
        minus = xp.asarray(f(), copy=True)
        x[index] = original
        columns.append((plus - minus) / (2 * eps))
    return xp.reshape(xp.stack(columns, axis=-1), tuple(columns[0].shape) + tuple(x.shape))


def assert_close(actual, expected, name: str, rtol: float = 1e-5, atol: float = 1e-7):
    """Raise AssertionError naming ``name`` and the worst element where |a − e| > atol + rtol|e|."""
    xp = array_namespace(actual)
    if actual.shape != expected.shape:
        raise AssertionError(f"{name}: shape {tuple(actual.shape)} != {tuple(expected.shape)}")
    error = xp.abs(actual - expected) - (atol + rtol * xp.abs(expected))
    worst = float(xp.max(error)) if math.prod(error.shape) else 0.0
    if worst > 0:
        raise AssertionError(f"{name}: analytic and numerical values differ by up to "
                             f"{worst + atol:.3g} beyond tolerance (max |expected| = "
                             f"{float(xp.max(xp.abs(expected))):.3g})")


def _projection(y, seed: int):
    return Random(seed).normal(backend_of(y), tuple(y.shape), dtype="float64")


def check_backward(layer, x, *, seed: int = 0, eps: float = 1e-6, rtol: float = 1e-5,
                   atol: float = 1e-7) -> None:
    """Assert that ``layer.backward`` matches central differences for x and every parameter."""
    xp = array_namespace(x)
    layer.train()
    u = _projection(layer.forward(x), seed)
    dx = layer.backward(u)
    analytic = {name: xp.asarray(p.grad, copy=True) for name, p in layer.parameters().items()}

    def energy():
        return xp.sum(layer.forward(x) * u)

    if dx is not None:
        assert_close(dx, numerical_gradient(energy, x, eps), "dx", rtol, atol)
    for name, param in layer.parameters().items():
        numerical = numerical_gradient(energy, param.data, eps)
        if param.mask is not None:
            numerical = numerical * param.mask
        assert_close(analytic[name], numerical, f"d{name}", rtol, atol)


def check_curvature(layer, x, *, seed: int = 0, eps: float = 1e-6, rtol: float = 1e-5,
                    atol: float = 1e-7) -> None:
    """Assert that ``layer.backward_curvature(h)`` gives Σ_o h_o (∂y_o/∂v)² for x and every
    parameter v, for a random non-negative h."""
    xp = array_namespace(x)
    layer.train()
    y = layer.forward(x)
    h = xp.abs(_projection(y, seed))
    d2x = layer.backward_curvature(h)
    analytic = {name: xp.asarray(p.curvature, copy=True) for name, p in layer.parameters().items()}

    def expected(v):
        jacobian = numerical_jacobian(lambda: layer.forward(x), v, eps)
        weights = xp.reshape(h, tuple(h.shape) + (1,) * v.ndim)
        return xp.sum(weights * jacobian ** 2, axis=tuple(range(h.ndim)))

    if d2x is not None:
        assert_close(d2x, expected(x), "d2x", rtol, atol)
    for name, param in layer.parameters().items():
        numerical = expected(param.data)
        if param.mask is not None:
            numerical = numerical * param.mask
        assert_close(analytic[name], numerical, f"h_{name}", rtol, atol)


def check_loss(loss, outputs, targets, *, eps: float = 1e-6, rtol: float = 1e-5,
               atol: float = 1e-7) -> None:
    """Assert that ``loss.backward()`` matches central differences of ``loss(outputs, targets)``."""
    loss.forward(outputs, targets)
    analytic = loss.backward()
    numerical = numerical_gradient(lambda: loss.forward(outputs, targets), outputs, eps)
    assert_close(analytic, numerical, f"d{type(loss).__name__}", rtol, atol)
