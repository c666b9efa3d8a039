"""lenet_xp: LeNet-5 and friends with hand-written backward passes on the Python array API.

The package is built in tiers, each importing only from itself and the ones below (README,
"Layout"; pyproject.toml lists them): base (``backend``, ``atomic``, ``canvas``) · core
(``init``, ``losses``, ``layers``, ``optim``, ``gradcheck``) · ``data`` · ``models`` ·
``runs`` · ``training`` · ``tools`` · interfaces (``cli``). Old module paths keep working for
one release (``_moved``).
"""

from . import _moved, init, layers, losses, optim
from ._version import __version__
from .backend import Backend, DeviceError, Random, get_backend, to_numpy
from .tools import export
from .inference import Committee, TrainedModel, load_model

_moved.install()

__all__ = ["Backend", "Committee", "DeviceError", "Random", "TrainedModel", "export", "get_backend",
           "init", "layers", "load_model", "losses", "optim", "to_numpy"]
