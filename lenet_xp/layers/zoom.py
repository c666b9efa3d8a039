"""A fixed zoom about the image centre, by area averaging (LeNet-1's 16×16 digits)."""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from ..backend import get_backend
from .base import Layer


def zoom_matrix(size: int, scale: float) -> np.ndarray:
    """R (size, size) float64: output pixel i averages the input over its footprint.

    Pixel i of the zoomed image covers the interval c + (i − c ± ½)/scale of the input, with
    c = (size − 1)/2 the centre; R[i, a] is the length of its overlap with input pixel a's
    interval [a − ½, a + ½], times ``scale``, so every row sums to 1. The first and last
    input pixels extend outwards without end (the edge is replicated): a footprint beyond the
    image takes the border's value, which is background for MNIST.
    """
    centre = (size - 1) / 2
    outputs = np.arange(size)[:, None]
    low = centre + (outputs - centre - 0.5) / scale
    high = centre + (outputs - centre + 0.5) / scale
    inputs = np.arange(size)[None, :]
    left = np.where(inputs == 0, -np.inf, inputs - 0.5)
    right = np.where(inputs == size - 1, np.inf, inputs + 0.5)
    return np.clip(np.minimum(high, right) - np.maximum(low, left), 0.0, None) * scale


class Zoom2d(Layer):
    """y = R x Rᵀ for each image and map: x (N, C, S, S) -> y (N, C, S, S), R = zoom_matrix(S, s).

    ``scale`` s < 1 shrinks the picture about its centre (0.8 turns MNIST's 20×20 digits into
    16×16 ones in the same 28×28 field), s > 1 enlarges it. R is fixed (no parameters).
    Backward: dx = Rᵀ dy R. Curvature (Gauss-Newton, ∂y_ij/∂x_ab = R_ia R_jb):
    h_x = (R∘R)ᵀ h_y (R∘R), with R∘R the elementwise square.
    """

    buffer_names = ("matrix",)

    def __init__(self, size: int, scale: float, *, dtype: str = "float32"):
        if size < 1 or scale <= 0:
            raise ValueError(f"Zoom2d needs size >= 1 and scale > 0, got {size}, {scale}")
        self.size, self.scale = size, scale
        cpu = get_backend("cpu")
        self.matrix = cpu.asarray(zoom_matrix(size, scale), dtype=cpu.dtype(dtype))

    def extra_repr(self) -> str:
        return f"size={self.size}, scale={self.scale}"

    def forward(self, x):
        xp = array_namespace(x)
        if x.ndim != 4 or tuple(x.shape[2:]) != (self.size, self.size):
            raise ValueError(f"Zoom2d expects input (N, C, {self.size}, {self.size}), got {tuple(x.shape)}")
        return xp.matmul(xp.matmul(self.matrix, x), xp.matrix_transpose(self.matrix))

    def backward(self, dy):
        xp = array_namespace(dy)
        return xp.matmul(xp.matmul(xp.matrix_transpose(self.matrix), dy), self.matrix) if self.needs_input_grad else None

    def backward_curvature(self, d2y):
        xp = array_namespace(d2y)
        squared = self.matrix * self.matrix
        return xp.matmul(xp.matmul(xp.matrix_transpose(squared), d2y), squared) if self.needs_input_grad else None
