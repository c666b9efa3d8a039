"""Copies of each feature map, for layers that feed several maps from one (LeNet-4's S2)."""

from __future__ import annotations

from array_api_compat import array_namespace

from .base import Layer


class RepeatMaps(Layer):
    """x (N, C, H, W) -> y (N, C·k, H, W) with y[:, c·k + j] = x[:, c] for j < k.

    Backward adds each map's k copies: dx[:, c] = Σ_j dy[:, c·k + j]; the curvature pass
    does the same with h (each ∂y/∂x is 1).
    """

    def __init__(self, copies: int):
        if copies < 1:
            raise ValueError(f"RepeatMaps needs copies >= 1, got {copies}")
        self.copies = copies

    def extra_repr(self) -> str:
        return f"copies={self.copies}"

    def forward(self, x):
        xp = array_namespace(x)
        if x.ndim != 4:
            raise ValueError(f"RepeatMaps expects input (N, C, H, W), got {tuple(x.shape)}")
        n, c, h, w = x.shape
        return xp.reshape(xp.stack([x] * self.copies, axis=2), (n, c * self.copies, h, w))

    def backward(self, dy):
        xp = array_namespace(dy)
        n, ck, h, w = dy.shape
        return xp.sum(xp.reshape(dy, (n, ck // self.copies, self.copies, h, w)), axis=2)

    backward_curvature = backward
