"""Elementwise activations y = f(x), with dx = f'(x)·dy and, for SDLM, d2x = f'(x)²·d2y."""

from __future__ import annotations

from array_api_compat import array_namespace

from ..backends.base import Array
from .base import Layer


class _Elementwise(Layer):
    """Keeps f'(x) from the forward pass; subclasses give f and f' (often from y)."""

    def __init__(self):
        self._slope: Array = None

    def forward(self, x):
        y, slope = self._function(x, want_slope=self.training)
        if self.training:
            self._slope = slope
        return y

    def backward(self, dy):
        if self._slope is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before a training-mode forward")
        return dy * self._slope

    def backward_curvature(self, d2y):
        return d2y * self._slope ** 2

    def _function(self, x, want_slope: bool):
        raise NotImplementedError


class ReLU(_Elementwise):
    """y = max(x, 0);  f'(x) = 1 where x > 0, else 0."""

    def _function(self, x, want_slope):
        slope = array_namespace(x).astype(x > 0, x.dtype)
        return x * slope, (slope if want_slope else None)


class Sigmoid(_Elementwise):
    """y = 1 / (1 + e^(−x));  f'(x) = y (1 − y)."""

    def _function(self, x, want_slope):
        xp = array_namespace(x)
        # e^(−|x|) never overflows; the two branches give the same value.
        z = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))
        return y, (y * (1.0 - y) if want_slope else None)


class Tanh(_Elementwise):
    """y = tanh(x);  f'(x) = 1 − y²."""

    def _function(self, x, want_slope):
        y = array_namespace(x).tanh(x)
        return y, (1.0 - y * y if want_slope else None)


class ScaledTanh(_Elementwise):
    """LeNet-5's squashing function y = A tanh(S x), A = 1.7159, S = 2/3 (appendix A).

    f(±1) = ±1 and the gain is close to 1 around 0. f'(x) = A S (1 − tanh²(S x)).
    """

    def __init__(self, amplitude: float = 1.7159, slope: float = 2.0 / 3.0):
        super().__init__()
        self.amplitude, self.slope = amplitude, slope

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4g}"

    def _function(self, x, want_slope):
        t = array_namespace(x).tanh(self.slope * x)
        y = self.amplitude * t
        return y, (self.amplitude * self.slope * (1.0 - t * t) if want_slope else None)
