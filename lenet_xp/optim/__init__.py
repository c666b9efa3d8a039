"""Optimisers (one update of all Parameters end to end, :mod:`~lenet_xp.optim.flat`),
learning-rate schedules and the moving average of the weights."""

from . import schedules
from .adagrad import AdaGrad
from .adam import Adam
from .base import Optimizer
from .ema import ExponentialMovingAverage
from .sdlm import SDLM
from .sgd import SGD

__all__ = ["SDLM", "SGD", "AdaGrad", "Adam", "ExponentialMovingAverage", "Optimizer", "schedules"]
