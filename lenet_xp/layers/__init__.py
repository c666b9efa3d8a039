"""Layers with hand-written forward, backward and second-derivative (SDLM) passes."""

from .activation import ReLU, ScaledTanh, Sigmoid, Tanh
from .base import Layer, Parameter
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import Sequential
from .conv import Conv2d, col2im, connection_table, im2col
from .dense import Flatten, Linear
from .dropout import Dropout
from .pool import AvgPool2d, MaxPool2d, Subsample2d
from .rbf import EuclideanRBF
from .repeat import RepeatMaps
from .zoom import Zoom2d

__all__ = [
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout", "EuclideanRBF", "Flatten",
    "Layer", "Linear", "MaxPool2d", "Parameter", "ReLU", "RepeatMaps", "ScaledTanh", "Sequential",
    "Sigmoid", "Subsample2d", "Tanh", "Zoom2d", "col2im", "connection_table", "im2col",
]
