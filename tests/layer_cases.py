"""Small instances of every layer, shared by the gradient, curvature and cross-backend tests.

Each case is (factory, input shape); factories are seeded so two calls build identical layers.
"""

from __future__ import annotations

import numpy as np

from lenet_xp.backend import Random, backend_of, get_backend
from lenet_xp.layers import (AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, EuclideanRBF, Flatten, Linear, MaxPool2d,
                             ReLU, RepeatMaps, ScaledTanh, Sequential, Sigmoid, Subsample2d,
                             Tanh, Zoom2d)


class FrozenMaskRandom(Random):
    """Draws the same numbers at every call, on the host for every backend, so dropout's mask
    is fixed for finite differences and the same on every backend (a library that draws on
    its device, such as CuPy or PyTorch, would draw other numbers)."""

    def uniform_like(self, x):
        numbers = np.random.default_rng(self.seed).random(tuple(x.shape))
        return backend_of(x).asarray(numbers, dtype=x.dtype)


def _small_network():
    net = Sequential(Conv2d(1, 2, 3, random=Random(1)), ReLU(), MaxPool2d(2), Flatten(),
                     Linear(8, 3, random=Random(2)))
    net.needs_input_grad = True
    return net


def batchnorm(kind, channels):
    """A batch-normalisation layer with γ and β away from their starting 1 and 0."""
    layer = kind(channels)
    layer.gamma.data = Random(3).normal(get_backend("cpu"), (channels,), std=1.0)
    layer.beta.data = Random(4).normal(get_backend("cpu"), (channels,), std=1.0)
    return layer


SPARSE_TABLE = [[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]]

# four ±1 prototypes of six components for the small RBF cases
RBF_PROTOTYPES = [[1, -1, 1, 1, -1, -1], [-1, -1, 1, -1, 1, 1], [1, 1, 1, -1, -1, 1],
                  [-1, 1, -1, 1, 1, -1]]

LAYER_CASES = {
    "conv": (lambda: Conv2d(2, 3, 3, random=Random(1)), (2, 2, 5, 5)),
    "conv_stride2_pad1": (lambda: Conv2d(2, 3, 3, stride=2, padding=1, random=Random(1)), (2, 2, 6, 6)),
    "conv_pad2_5x5": (lambda: Conv2d(1, 2, 5, padding=2, random=Random(1)), (1, 1, 5, 5)),
    # outputs computed in blocks of 4 or 2 adjacent columns (as C1 and C3 at large batches)
    "conv_blocked": (lambda: Conv2d(1, 2, 3, block=4, random=Random(1)), (2, 1, 10, 10)),
    "conv_blocked_stride2": (lambda: Conv2d(1, 2, 3, stride=2, padding=1, block=4, random=Random(1)),
                             (2, 1, 8, 8)),
    "conv_sparse_blocked": (lambda: Conv2d(3, 4, 3, connections=SPARSE_TABLE, block=2, random=Random(1)),
                            (2, 3, 4, 4)),
    "conv_no_bias": (lambda: Conv2d(2, 3, 3, stride=2, random=Random(1), bias=False), (2, 2, 5, 5)),
    "conv_whole_input": (lambda: Conv2d(3, 4, 3, random=Random(1)), (2, 3, 3, 3)),  # like C5
    "conv_sparse": (lambda: Conv2d(3, 4, 3, connections=SPARSE_TABLE, random=Random(1)), (2, 3, 4, 4)),
    "maxpool_2": (lambda: MaxPool2d(2), (2, 3, 4, 4)),
    "maxpool_3_stride2": (lambda: MaxPool2d(3, 2), (2, 2, 5, 5)),
    "maxpool_2_odd_size": (lambda: MaxPool2d(2), (2, 2, 5, 5)),  # last row and column unused
    "avgpool_2": (lambda: AvgPool2d(2), (2, 3, 4, 4)),
    "avgpool_3_stride2": (lambda: AvgPool2d(3, 2), (1, 2, 5, 5)),
    "subsample": (lambda: Subsample2d(3, random=Random(1)), (2, 3, 4, 4)),
    "repeat_maps": (lambda: RepeatMaps(3), (2, 2, 3, 3)),
    "zoom_out": (lambda: Zoom2d(6, 0.8), (2, 2, 6, 6)),
    "zoom_in": (lambda: Zoom2d(5, 1.5), (1, 2, 5, 5)),
    "linear": (lambda: Linear(5, 4, random=Random(1)), (3, 5)),
    "linear_no_bias": (lambda: Linear(5, 4, random=Random(1), bias=False), (3, 5)),
    "relu": (ReLU, (3, 4)),
    "sigmoid": (Sigmoid, (3, 4)),
    "tanh": (Tanh, (3, 4)),
    "scaled_tanh": (ScaledTanh, (3, 4)),
    "flatten": (Flatten, (2, 3, 2, 2)),
    "batchnorm2d": (lambda: batchnorm(BatchNorm2d, 3), (3, 3, 2, 3)),
    "batchnorm1d": (lambda: batchnorm(BatchNorm1d, 4), (5, 4)),
    "dropout": (lambda: Dropout(0.3, random=FrozenMaskRandom(7)), (4, 5)),
    "network": (_small_network, (2, 1, 6, 6)),
    "rbf_bitmaps": (EuclideanRBF, (2, 84)),
    "rbf_small": (lambda: EuclideanRBF(6, 4, prototypes=RBF_PROTOTYPES), (3, 6)),
    "rbf_trainable": (lambda: EuclideanRBF(6, 4, prototypes=RBF_PROTOTYPES, trainable=True), (3, 6)),
}
