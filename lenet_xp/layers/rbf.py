"""Euclidean radial basis function units: LeNet-5's output layer (LeCun et al. 1998, eq. 7)."""

from __future__ import annotations

from array_api_compat import array_namespace

from ..backend import get_backend, to_numpy
from .base import Layer, Parameter


class EuclideanRBF(Layer):
    """K Euclidean RBF units, each the squared distance of the input to its prototype w_i.

    x: (N, D) -> y: (N, K),  W: (K, D),

        y[n, i] = Σ_j (x[n, j] − W[i, j])²

    With d[n, i, j] = x[n, j] − W[i, j] kept from the forward pass:

        backward   dx[n, j] = 2 Σ_i dy[n, i] d[n, i, j]
                   dW[i, j] = −2 Σ_n dy[n, i] d[n, i, j]                  (trainable only)
        curvature  d2x[n, j] = Σ_i h[n, i] (∂y_i/∂x_j)² = 4 Σ_i h[n, i] d[n, i, j]²
                   d2W[i, j] = 4 Σ_n h[n, i] d[n, i, j]²                   (trainable only)

    The curvature pass is the Gauss-Newton rule of every lenet_xp layer: the layer's own
    second derivative ∂²y_i/∂x_j² = 2 is dropped, as f'' is for a squashing function.

    Args:
        in_features, out_features: D and K.
        prototypes: (K, D) array of the w_i. Default: LeNet-5's ±1 digit bitmaps
            (:func:`lenet_xp.models.digit_bitmaps.load_digit_bitmaps`), for D = 84, K = 10.
        trainable: False (the paper): the prototypes are a buffer, fixed, not counted as
            parameters. True: a :class:`Parameter` named ``prototypes``, without weight decay.
    """

    def __init__(self, in_features: int = 84, out_features: int = 10, *, prototypes=None,
                 trainable: bool = False, dtype: str = "float32"):
        self.in_features, self.out_features = in_features, out_features
        self.trainable = trainable
        cpu = get_backend("cpu")
        if prototypes is None:
            if (in_features, out_features) != (84, 10):
                raise ValueError("the default prototypes are the 10 digit bitmaps of 84 pixels; "
                                 f"for {out_features} units of {in_features} inputs pass prototypes=")
            from ..models.digit_bitmaps import load_digit_bitmaps  # models imports layers

            prototypes = load_digit_bitmaps(dtype)
        prototypes = cpu.asarray(to_numpy(prototypes), dtype=cpu.dtype(dtype))
        if tuple(prototypes.shape) != (out_features, in_features):
            raise ValueError(f"prototypes have shape {tuple(prototypes.shape)}, expected "
                             f"(out_features, in_features) = {(out_features, in_features)}")
        if trainable:
            self.param_names, self.buffer_names = ("prototypes",), ()
            self.prototypes = Parameter(prototypes, decay=False)
        else:
            self.param_names, self.buffer_names = (), ("prototypes",)
            self.prototypes = prototypes
        self._difference = None

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, trainable={self.trainable}"

    @property
    def centres(self):
        """The (K, D) prototype array, whether it is a buffer or a parameter."""
        return self.prototypes.data if self.trainable else self.prototypes

    def forward(self, x):
        xp = array_namespace(x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"EuclideanRBF expects input (N, {self.in_features}), got {tuple(x.shape)}")
        # (N, 1, D) − (1, K, D): N·K·D values, small next to any convolution
        difference = xp.expand_dims(x, axis=1) - xp.expand_dims(self.centres, axis=0)
        if self.training:
            self._difference = difference
        return xp.sum(difference * difference, axis=2)

    def backward(self, dy):
        xp = array_namespace(dy)
        weighted = xp.expand_dims(dy, axis=2) * self._checked_difference()
        if self.trainable:
            self.prototypes.grad = -2.0 * xp.sum(weighted, axis=0)
        return 2.0 * xp.sum(weighted, axis=1) if self.needs_input_grad else None

    def backward_curvature(self, d2y):
        xp = array_namespace(d2y)
        difference = self._checked_difference()
        weighted = 4.0 * xp.expand_dims(d2y, axis=2) * (difference * difference)
        if self.trainable:
            self.prototypes.curvature = xp.sum(weighted, axis=0)
        return xp.sum(weighted, axis=1) if self.needs_input_grad else None

    def _checked_difference(self):
        if self._difference is None:
            raise RuntimeError("EuclideanRBF.backward called before a training-mode forward")
        return self._difference
