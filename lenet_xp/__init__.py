"""lenet_xp: LeNet-5 and friends with hand-written backward passes on the Python array API."""

from . import init, layers, losses, optim
from ._version import __version__
from .backend import Backend, DeviceError, Random, get_backend, to_numpy
from .inference import TrainedModel, load_model

__all__ = ["Backend", "DeviceError", "Random", "TrainedModel", "get_backend", "init", "layers",
           "load_model", "losses", "optim", "to_numpy"]
