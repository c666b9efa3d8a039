"""lenet_xp: LeNet-5 and friends with hand-written backward passes on the Python array API."""

from . import init, layers, losses, optim
from .backend import Backend, DeviceError, Random, get_backend, to_numpy
from .inference import TrainedModel, load_model

__version__ = "0.1.0"

__all__ = ["Backend", "DeviceError", "Random", "TrainedModel", "get_backend", "init", "layers",
           "load_model", "losses", "optim", "to_numpy"]
