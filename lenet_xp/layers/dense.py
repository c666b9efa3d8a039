"""Fully connected layer and the reshape that feeds it."""

from __future__ import annotations

from array_api_compat import array_namespace

from .. import init as initializers
from ..backend import Random
from ..backends.base import Array
from ..init import Initializer
from .base import Layer, Parameter, WeightedSum


class Linear(WeightedSum):
    """Affine map x: (N, D_in) -> y: (N, D_out),  y = x Wᵀ + b,  W: (D_out, D_in).

    Backward: dx = dy W,  dW = dyᵀ x,  db = Σ_n dy.

    ``bias=False`` leaves b out (b = 0, no parameter), for a layer that batch normalisation
    follows: its shift β takes the bias's place.
    """

    param_names: tuple[str, ...] = ("weight", "bias")

    def __init__(self, in_features: int, out_features: int, *,
                 init: str | Initializer = "he_normal", random: Random | None = None,
                 dtype: str = "float32", bias: bool = True):
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(initializers.initialize(
            init, random or Random(None), (out_features, in_features), in_features,
            out_features, dtype))
        self.bias = Parameter(initializers.zeros((out_features,), dtype), decay=False) if bias else None
        if not bias:
            self.param_names = ("weight",)
        self._x: Array = None

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}" + (", bias=False" if self.bias is None else "")

    def forward(self, x):
        xp = array_namespace(x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"Linear expects input (N, {self.in_features}), got {tuple(x.shape)}")
        if self.training:
            self._x = x
        y = xp.matmul(x, xp.matrix_transpose(self.weight.data))
        return y if self.bias is None else y + self.bias.data

    def _saved_input(self):
        return self._x

    def _backprop(self, dy, weight, x):
        xp = array_namespace(dy)
        dx = xp.matmul(dy, weight) if self.needs_input_grad else None
        db = xp.sum(dy, axis=0) if self.bias is not None else None
        return xp.matmul(xp.matrix_transpose(dy), x), db, dx


class Flatten(Layer):
    """(N, C, H, W) -> (N, C·H·W) in row-major order; backward reshapes back."""

    def __init__(self):
        self._input_shape: tuple[int, ...] = ()

    def forward(self, x):
        xp = array_namespace(x)
        self._input_shape = tuple(x.shape)
        return xp.reshape(x, (x.shape[0], -1))

    def backward(self, dy):
        if self._input_shape is None:
            raise RuntimeError("Flatten.backward called before forward")
        return array_namespace(dy).reshape(dy, self._input_shape)

    backward_curvature = backward
