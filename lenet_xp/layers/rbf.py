"""Euclidean radial basis function units: LeNet-5's output layer (LeCun et al. 1998, eq. 7)."""

from __future__ import annotations

from array_api_compat import array_namespace

from ..backend import get_backend, to_numpy
from ..primitives import clamp
from .base import Layer, Parameter
from .digit_bitmaps import load_digit_bitmaps


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

    With ``second_order=True`` that term is kept, weighted by the gradient dy of the preceding
    ``backward`` on the same forward pass (SDLM runs one), and clipped at 0 to keep the
    estimate non-negative:

        d2x[n, j] += 2 max(Σ_i dy[n, i], 0)        d2W[i, j] += 2 max(Σ_n dy[n, i], 0)

    Why LeNet-5 needs it: under the MAP loss the penalties y_i of a trained network are far
    from 0 (squared distances over 84 components), so the loss's own curvature q(1 − q) is
    ~e^{−y} ≈ 0, and the Gauss-Newton rule alone passes no curvature back at all: SDLM's
    h_kk would all be ≈ 0 and its step η/(μ + h) the same η/μ everywhere. The term kept here
    is the curvature of the distance to the right bitmap: with the MAP loss Σ_i dE/dy_i =
    q_rubbish/N ∈ [0, 1/N], and while every penalty is large it is 1/N, which gives F6 the
    second derivative 2/N of the MSE criterion (eq. 8) that the paper's appendix C works with.

    Args:
        in_features: D, the length of x.
        out_features: K, the number of prototypes w_i.
        prototypes: (K, D) array of the w_i. Default: LeNet-5's ±1 digit bitmaps
            (:func:`lenet_xp.layers.digit_bitmaps.load_digit_bitmaps`), for D = 84, K = 10.
        trainable: False (the paper): the prototypes are a buffer, fixed, not counted as
            parameters. True: a :class:`Parameter` named ``prototypes``, without weight decay.
        second_order: keep the layer's own second derivative in ``backward_curvature`` (see
            above); needs a ``backward`` after the forward pass and before the curvature pass.
    """

    def __init__(self, in_features: int = 84, out_features: int = 10, *, prototypes=None,
                 trainable: bool = False, second_order: bool = False, dtype: str = "float32"):
        self.in_features, self.out_features = in_features, out_features
        self.trainable, self.second_order = trainable, second_order
        cpu = get_backend("cpu")
        if prototypes is None:
            if (in_features, out_features) != (84, 10):
                raise ValueError("the default prototypes are the 10 digit bitmaps of 84 pixels; "
                                 f"for {out_features} units of {in_features} inputs pass prototypes=")
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
        self._dy = None

    def extra_repr(self) -> str:
        second_order = ", second_order=True" if self.second_order else ""
        return f"{self.in_features}, {self.out_features}, trainable={self.trainable}{second_order}"

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
            self._difference, self._dy = difference, None
        return xp.sum(difference * difference, axis=2)

    def backward(self, dy):
        xp = array_namespace(dy)
        weighted = xp.expand_dims(dy, axis=2) * self._checked_difference()
        if self.second_order:
            self._dy = dy
        if self.trainable:
            self.prototypes.grad = -2.0 * xp.sum(weighted, axis=0)
        return 2.0 * xp.sum(weighted, axis=1) if self.needs_input_grad else None

    def backward_curvature(self, d2y):
        xp = array_namespace(d2y)
        difference = self._checked_difference()
        weighted = 4.0 * xp.expand_dims(d2y, axis=2) * (difference * difference)
        own_x = own_w = 0.0
        if self.second_order:
            if self._dy is None:
                raise RuntimeError("EuclideanRBF(second_order=True) weights its own second "
                                   "derivative by dE/dy: call backward(dy) after the forward "
                                   "pass and before backward_curvature")
            own_x = 2.0 * clamp(xp.sum(self._dy, axis=1, keepdims=True), low=0.0)  # (N, 1)
            own_w = 2.0 * clamp(xp.sum(self._dy, axis=0), low=0.0)  # (K,)
            own_w = xp.expand_dims(own_w, axis=1)
        if self.trainable:
            self.prototypes.curvature = xp.sum(weighted, axis=0) + own_w
        return xp.sum(weighted, axis=1) + own_x if self.needs_input_grad else None

    def _checked_difference(self):
        if self._difference is None:
            raise RuntimeError("EuclideanRBF.backward called before a training-mode forward")
        return self._difference
