"""Optimisers (in-place updates of Parameters) and learning-rate schedules."""

from . import schedules
from .adagrad import AdaGrad
from .adam import Adam
from .base import Optimizer
from .sdlm import SDLM
from .sgd import SGD

__all__ = ["AdaGrad", "Adam", "Optimizer", "SDLM", "SGD", "schedules"]
