"""Pooling: max, average, and LeNet-5's trainable subsampling, each over k×k windows with stride s.

All three combine the k·k strided views of :mod:`.windows` elementwise (no reshape-and-reduce,
no loop over pixels), and their backward passes add into the same views. Where every
operation costs a launch (a GPU, :func:`~lenet_xp.primitives.launch_bound`) and the
windows tile the input (stride = k), max-pooling gathers its k·k windows at once and routes
its gradient back by one reshaping copy, and the other two spread theirs by one copy
(:mod:`.gather`).
"""

from __future__ import annotations

from array_api_compat import array_namespace, device

from .. import init as initializers
from ..backend import Random
from ..backends.base import Array
from ..init import Initializer
from ..primitives import constant, launch_bound
from .base import Layer, Parameter
from .gather import gather_tiles, spread_tiles, untile
from .windows import output_size, window_slices


class _Pool(Layer):
    """Shared shape handling: x (N, C, H, W) -> (N, C, OH, OW), OH = (H − k)/s + 1."""

    def __init__(self, kernel_size: int = 2, stride: int | None = None):
        self.kernel_size = kernel_size
        self.stride = stride or kernel_size
        self._input: Array = None  # kept in training: backward allocates its dx like it

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"

    def _gathers(self, x) -> bool:
        """Whether this pass takes the gathering path: windows that tile x, on a device where
        operations cost their launch."""
        return self.stride == self.kernel_size and launch_bound(x)

    def _windows(self, x):
        """The k·k window indices of an input x, each picking an (N, C, OH, OW) view."""
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__} expects input (N, C, H, W), got {tuple(x.shape)}")
        k, s = self.kernel_size, self.stride
        oh, ow = output_size(x.shape[2], k, s), output_size(x.shape[3], k, s)
        return [(slice(None), slice(None), rows, columns)
                for _, _, rows, columns in window_slices(k, k, s, oh, ow)]

    def _window_sum(self, x):
        """Σ over each window: (N, C, H, W) -> (N, C, OH, OW)."""
        windows = self._windows(x)
        total = x[windows[0]]
        for window in windows[1:]:
            total = total + x[window]
        return total

    def _spread(self, dy_per_input):
        """dx with dy_per_input added into every position of its window (the sum's adjoint)."""
        if self._input is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before a training-mode forward")
        if self._gathers(dy_per_input):
            return spread_tiles(dy_per_input, tuple(self._input.shape), self.kernel_size)
        xp = array_namespace(dy_per_input)
        dx = xp.zeros_like(self._input)  # same memory layout as the input (see Conv2d)
        for window in self._windows(self._input):
            dx[window] += dy_per_input
        return dx


class MaxPool2d(_Pool):
    """y[n, c, p, q] = max over the window at (p·s, q·s) of x[n, c].

    Forward is the elementwise maximum of the k·k window views. Backward routes dy to the
    window's maximum; on ties, to the first maximum in row-major window order (as PyTorch and
    cuDNN do), so each window passes its gradient on exactly once. Where operations cost their
    launch and the windows tile the input (stride = k), forward gathers the tiles at once and
    keeps the argmax, and backward routes dy by one comparison, one ``where`` and one reshaping
    copy (:mod:`.gather`): the same numbers.
    """

    def __init__(self, kernel_size: int = 2, stride: int | None = None):
        super().__init__(kernel_size, stride)
        self._output: Array = None
        self._first: Array = None  # on the gathering path: the window entry of each maximum
        self._input_shape: tuple[int, ...] = ()

    def forward(self, x):
        if x.ndim == 4 and self._gathers(x):
            return self._forward_gathered(x)
        xp = array_namespace(x)
        windows = self._windows(x)
        y = x[windows[0]]
        for window in windows[1:]:
            y = xp.maximum(y, x[window])
        if self.training:
            self._input, self._output, self._first = x, y, None
        return y

    def _forward_gathered(self, x):
        """The tiles in one gather (k², C·N·OH·OW), their maximum, and where it is: the
        first maximum in row-major window order, as on the sliced path (the standard's
        argmax returns the first)."""
        xp = array_namespace(x)
        n, c = x.shape[0], x.shape[1]
        tiles, (oh, ow) = gather_tiles(x, self.kernel_size)
        if self.training:
            self._first, self._input_shape = xp.argmax(tiles, axis=0), tuple(x.shape)
            self._input = self._output = None
        y = xp.reshape(xp.max(tiles, axis=0), (c, n, oh, ow))
        return xp.permute_dims(y, (1, 0, 2, 3))

    def backward(self, dy):
        return self._route(dy)

    def backward_curvature(self, d2y):
        return self._route(d2y)

    def _route_gathered(self, dy):
        """dx: each window's gradient to the entry that held its first maximum."""
        xp = array_namespace(dy)
        k = self.kernel_size
        places = xp.reshape(xp.arange(k * k, dtype=self._first.dtype, device=device(dy)), (-1, 1))
        first = xp.reshape(self._first, (1, -1)) == places
        grid = xp.reshape(xp.permute_dims(dy, (1, 0, 2, 3)), (1, -1))
        return untile(xp.where(first, grid, constant(dy, 0.0)), self._input_shape, k)

    def _route(self, dy):
        """dx[window k] = dy where window k holds the maximum and no earlier window did.

        ``taken`` marks the outputs whose maximum an earlier window already claimed (boolean
        arrays, a quarter of the bytes of dy); the last window takes every output left, so
        each output's gradient lands on its first maximum exactly once. Where the windows
        tile the input (stride = k, sizes multiples of k) every input gets exactly one
        assignment and dx needs no zero fill.
        """
        if self._first is not None:
            return self._route_gathered(dy)
        if self._output is None:
            raise RuntimeError("MaxPool2d.backward called before a training-mode forward")
        xp = array_namespace(dy)
        x, y = self._input, self._output
        k, s = self.kernel_size, self.stride
        tiled = s == k and x.shape[2] % k == 0 and x.shape[3] % k == 0
        # Same memory layout as the input (see Conv2d); outside the windows (odd sizes) 0.
        dx = xp.empty_like(x) if tiled else xp.zeros_like(x)
        overlapping = s < k
        *windows, last = self._windows(x)
        taken = None
        for window in windows:
            is_max = x[window] == y
            first = is_max if taken is None else is_max & ~taken
            taken = is_max if taken is None else taken | is_max
            self._place(dx, window, dy * xp.astype(first, dy.dtype), overlapping)
        left = xp.ones_like(y, dtype=xp.bool) if taken is None else ~taken
        self._place(dx, last, dy * xp.astype(left, dy.dtype), overlapping)
        return dx

    @staticmethod
    def _place(dx, window, routed, overlapping: bool) -> None:
        if overlapping:
            dx[window] += routed
        else:
            dx[window] = routed


class AvgPool2d(_Pool):
    """y = (1/k²) Σ_window x;  dx = dy/k² added into every position of the window."""

    def forward(self, x):
        y = self._window_sum(x) / (self.kernel_size ** 2)
        if self.training:
            self._input = x
        return y

    def backward(self, dy):
        return self._spread(dy / (self.kernel_size ** 2))

    def backward_curvature(self, d2y):
        return self._spread(d2y / (self.kernel_size ** 4))


class Subsample2d(_Pool):
    """LeNet-5's trainable subsampling (S2, S4): one coefficient and one bias per map.

        y[n, c] = a[c] · Σ_window x[n, c] + b[c]

    Backward, with s = Σ_window x:  da[c] = Σ dy·s,  db[c] = Σ dy,  dx = a[c]·dy in every
    position of the window. The squashing function is a separate activation layer.
    """

    param_names = ("coefficient", "bias")

    def __init__(self, channels: int, kernel_size: int = 2, stride: int | None = None, *,
                 init: str | Initializer = "lecun_uniform", random: Random | None = None,
                 dtype: str = "float32"):
        super().__init__(kernel_size, stride)
        self.channels = channels
        fan_in = kernel_size * kernel_size
        self.coefficient = Parameter(initializers.initialize(
            init, random or Random(None), (channels,), fan_in, 1, dtype))
        self.bias = Parameter(initializers.zeros((channels,), dtype), decay=False)
        self._sums: Array = None

    def extra_repr(self) -> str:
        return f"{self.channels}, {super().extra_repr()}"

    def forward(self, x):
        xp = array_namespace(x)
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"Subsample2d expects input (N, {self.channels}, H, W), got {tuple(x.shape)}")
        sums = self._window_sum(x)
        if self.training:
            self._sums, self._input = sums, x
        return (sums * xp.reshape(self.coefficient.data, (-1, 1, 1))
                + xp.reshape(self.bias.data, (-1, 1, 1)))

    def backward(self, dy):
        self.coefficient.grad, self.bias.grad, dx = self._backprop(
            dy, self.coefficient.data, self._sums)
        return dx

    def backward_curvature(self, d2y):
        self.coefficient.curvature, self.bias.curvature, d2x = self._backprop(
            d2y, self.coefficient.data ** 2, self._sums ** 2)
        return d2x

    def _backprop(self, dy, coefficient, sums):
        if self._sums is None:
            raise RuntimeError("Subsample2d.backward called before a training-mode forward")
        xp = array_namespace(dy)
        d_coefficient = xp.sum(dy * sums, axis=(0, 2, 3))
        d_bias = xp.sum(dy, axis=(0, 2, 3))
        dx = self._spread(dy * xp.reshape(coefficient, (-1, 1, 1)))
        return d_coefficient, d_bias, dx
