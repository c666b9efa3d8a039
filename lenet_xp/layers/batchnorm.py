"""Batch normalisation (Ioffe & Szegedy 2015), per feature map or per feature.

For each channel c, over the M = N·H·W values it takes in a batch (M = N for features):

    training:    μ = (1/M) Σ x,  σ² = (1/M) Σ (x − μ)²  (the biased variance),
                 x̂ = (x − μ) / √(σ² + ε),  y = γ x̂ + β,
                 running_mean ← (1 − m)·running_mean + m·μ,
                 running_var  ← (1 − m)·running_var + m·σ²·M/(M − 1)  (the unbiased variance)
    evaluation:  y = γ (x − running_mean) / √(running_var + ε) + β  (nothing is updated)

with momentum m = 0.1 and ε = 1e-5, PyTorch's defaults and conventions. γ (``gamma``, starts
at 1) and β (``beta``, starts at 0) are learnt, without weight decay (as biases); the running
statistics (start 0 and 1) are the layer's *state*: checkpoints and ``model.npz`` save them
with the parameters, and evaluation, validation and test use them.

Backward (the compact form of the chain rule through μ and σ, per channel):

    dβ = Σ dy,   dγ = Σ dy·x̂,   dx = (γ / √(σ² + ε)) · (dy − (dβ + x̂·dγ) / M)

Curvature (SDLM's diagonal Gauss-Newton pass, :mod:`lenet_xp.layers.base`): for γ and β the
rule h_v = Σ_o h_o (∂y_o/∂v)² gives h_γ = Σ h·x̂² and h_β = Σ h. For x, every output of a
channel depends on every input of it through μ and σ:

    ∂y_i/∂x_k = (γ/s)(δ_ik − a_ik),   a_ik = (1 + x̂_i x̂_k)/M,   s = √(σ² + ε),

and h_x,k = Σ_i h_i (∂y_i/∂x_k)² sums in closed form, with S₀ = Σ h, S₁ = Σ h·x̂,
S₂ = Σ h·x̂² per channel, to

    h_x = (γ/s)² · [h·(1 − 2(1 + x̂²)/M) + (S₀ + 2x̂·S₁ + x̂²·S₂)/M²].

So the layer passes back the exact diagonal of its own Gauss-Newton matrix, batch statistics
included, as every other layer does; off-diagonal terms are dropped between layers, as always
in SDLM. (Holding μ and σ fixed would give (γ/s)²·h, which is off by O(1/M).)

Data parallelism. Each worker normalises with the statistics of its own share of the batch,
as PyTorch's DistributedDataParallel does without SyncBatchNorm: under MPI each rank its
share, with ``--split-batch`` each thread its slice. The running statistics of rank 0 (of the
model's own thread) are the ones saved, and rank 0's are broadcast before every sharded
evaluation, so that all ranks score the model that is saved.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from .. import init as initializers
from ..backends.base import Array
from .base import Layer, Parameter


class _BatchNorm(Layer):
    """What BatchNorm1d and BatchNorm2d share; they say which axes are the batch's."""

    param_names = ("gamma", "beta")
    state_names = ("running_mean", "running_var")
    #: the axes the statistics are taken over, the input's rank and its layout for messages
    axes: tuple[int, ...] = ()
    ndim: int = 0
    layout: str = ""

    def __init__(self, channels: int, *, momentum: float = 0.1, eps: float = 1e-5,
                 dtype: str = "float32"):
        if channels < 1 or not 0.0 <= momentum <= 1.0 or eps <= 0:
            raise ValueError(f"{type(self).__name__} needs channels >= 1, momentum in [0, 1] and "
                             f"eps > 0, got {channels}, {momentum}, {eps}")
        self.channels, self.momentum, self.eps = channels, momentum, eps
        self.gamma = Parameter(initializers.zeros((channels,), dtype) + 1, decay=False)
        self.beta = Parameter(initializers.zeros((channels,), dtype), decay=False)
        self.running_mean = initializers.zeros((channels,), dtype)
        self.running_var = initializers.zeros((channels,), dtype) + 1
        self._normalised: Array = None  # x̂, kept in training
        self._inv_std: Array = None  # 1/√(σ² + ε), kept in training

    def extra_repr(self) -> str:
        return f"{self.channels}, momentum={self.momentum}, eps={self.eps}"

    def _per_channel(self, xp, values):
        """A (C,) array shaped to broadcast against the input: (1, C) or (1, C, 1, 1)."""
        return xp.reshape(values, (1, self.channels) + (1,) * (self.ndim - 2))

    def forward(self, x):
        xp = array_namespace(x)
        if x.ndim != self.ndim or x.shape[1] != self.channels:
            raise ValueError(f"{type(self).__name__} expects input {self.layout.format(self.channels)}, "
                             f"got {tuple(x.shape)}")
        if not self.training:
            self._normalised = self._inv_std = None
            scale = self.gamma.data / xp.sqrt(self.running_var + self.eps)
            shift = self.beta.data - self.running_mean * scale
            return x * self._per_channel(xp, scale) + self._per_channel(xp, shift)
        count = math.prod(x.shape) // self.channels
        if count < 2:
            raise ValueError(f"{type(self).__name__} in training needs more than one value per "
                             f"channel to take statistics over, got input {tuple(x.shape)}: use "
                             "batches of 2 or more (under MPI, 2 or more per rank)")
        mean = xp.mean(x, axis=self.axes, keepdims=True)
        centred = x - mean
        variance = xp.mean(centred * centred, axis=self.axes, keepdims=True)
        inv_std = (variance + self.eps) ** -0.5
        normalised = centred * inv_std
        self._update_running(xp, mean, variance, count)
        self._normalised, self._inv_std = normalised, inv_std
        return (normalised * self._per_channel(xp, self.gamma.data)
                + self._per_channel(xp, self.beta.data))

    def _update_running(self, xp, mean, variance, count: int) -> None:
        """The running averages, in place: six operations on C values."""
        m = self.momentum
        self.running_mean *= 1 - m
        self.running_mean += m * xp.reshape(mean, (-1,))
        self.running_var *= 1 - m
        self.running_var += (m * count / (count - 1)) * xp.reshape(variance, (-1,))

    def _check_cached(self):
        if self._normalised is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before a training-mode forward")

    def backward(self, dy):
        self._check_cached()
        xp = array_namespace(dy)
        normalised = self._normalised
        d_beta = xp.sum(dy, axis=self.axes, keepdims=True)
        d_gamma = xp.sum(dy * normalised, axis=self.axes, keepdims=True)
        self.beta.grad, self.gamma.grad = xp.reshape(d_beta, (-1,)), xp.reshape(d_gamma, (-1,))
        if not self.needs_input_grad:
            return None
        count = math.prod(normalised.shape) // self.channels
        scale = self._per_channel(xp, self.gamma.data) * self._inv_std
        return scale * (dy - (d_beta + normalised * d_gamma) / count)

    def backward_curvature(self, d2y):
        self._check_cached()
        xp = array_namespace(d2y)
        normalised = self._normalised
        weighted = d2y * normalised
        s0 = xp.sum(d2y, axis=self.axes, keepdims=True)
        s1 = xp.sum(weighted, axis=self.axes, keepdims=True)
        s2 = xp.sum(weighted * normalised, axis=self.axes, keepdims=True)
        self.beta.curvature, self.gamma.curvature = xp.reshape(s0, (-1,)), xp.reshape(s2, (-1,))
        if not self.needs_input_grad:
            return None
        count = math.prod(normalised.shape) // self.channels
        squared = normalised * normalised
        gain = (self._per_channel(xp, self.gamma.data) * self._inv_std) ** 2
        own = d2y * (1.0 - 2.0 * (1.0 + squared) / count)
        shared = (s0 + 2.0 * normalised * s1 + squared * s2) / (count * count)
        return gain * (own + shared)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of feature maps: x (N, C, H, W) -> y (N, C, H, W), with statistics
    per map over the N·H·W values (see the module docstring for the formulas)."""

    axes, ndim, layout = (0, 2, 3), 4, "(N, {}, H, W)"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of features: x (N, F) -> y (N, F), with statistics per feature over
    the N samples (see the module docstring for the formulas)."""

    axes, ndim, layout = (0,), 2, "(N, {})"
