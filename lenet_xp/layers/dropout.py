"""Inverted dropout."""

from __future__ import annotations

from array_api_compat import array_namespace

from ..backend import Random
from .base import Layer


class Dropout(Layer):
    """In training, y = x · m / (1 − p) with m ~ Bernoulli(1 − p) drawn per element; in
    evaluation mode y = x. Backward: dx = dy · m / (1 − p).

    The mask is drawn on the array's own device (see :meth:`Random.uniform_like`).
    """

    def __init__(self, p: float = 0.5, *, random: Random | None = None):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.random = random or Random(None)
        self._scale = None

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x):
        if not self.training or self.p == 0.0:
            self._scale = None
            return x
        keep = self.random.uniform_like(x) >= self.p
        self._scale = array_namespace(x).astype(keep, x.dtype) * (1.0 / (1.0 - self.p))
        return x * self._scale

    def backward(self, dy):
        return dy if self._scale is None else dy * self._scale

    def backward_curvature(self, d2y):
        return d2y if self._scale is None else d2y * self._scale ** 2
