"""lenet_xp: LeNet-5 and friends with hand-written backward passes on the Python array API.

The package is built in tiers, each importing only from itself and the ones below (README,
"Layout"; pyproject.toml lists them): base (``backend``, ``atomic``, ``canvas``) · core
(``init``, ``losses``, ``layers``, ``optim``, ``gradcheck``) · ``data`` · ``models`` ·
``runs`` · ``training`` · ``tools`` · interfaces (``cli``, ``web``).

The public names below, and every module of the package (``lenet_xp.data``, ...), are imported
on first use (PEP 562), so that ``import lenet_xp.layers`` loads the core alone: neither
Pillow nor the models, runs or tools.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__ as __version__

#: public name -> (the module that holds it, the attribute there; None: the module itself)
_PUBLIC = {
    "Backend": ("lenet_xp.backend", "Backend"),
    "DeviceError": ("lenet_xp.backend", "DeviceError"),
    "Random": ("lenet_xp.backend", "Random"),
    "get_backend": ("lenet_xp.backend", "get_backend"),
    "to_numpy": ("lenet_xp.backend", "to_numpy"),
    "init": ("lenet_xp.init", None),
    "layers": ("lenet_xp.layers", None),
    "losses": ("lenet_xp.losses", None),
    "optim": ("lenet_xp.optim", None),
    "export": ("lenet_xp.tools.export", None),
    "Committee": ("lenet_xp.inference", "Committee"),
    "TrainedModel": ("lenet_xp.inference", "TrainedModel"),
    "load_model": ("lenet_xp.inference", "load_model"),
}

if TYPE_CHECKING:  # the same names for type checkers and the API reference, which read source
    from . import init, layers, losses, optim
    from .backend import Backend, DeviceError, Random, get_backend, to_numpy
    from .inference import Committee, TrainedModel, load_model
    from .tools import export

__all__ = ["Backend", "Committee", "DeviceError", "Random", "TrainedModel", "export",
           "get_backend", "init", "layers", "load_model", "losses", "optim", "to_numpy"]


def __getattr__(name: str):
    """A public name's object, or a module of the package, imported now (and kept, so the
    import runs once)."""
    if name.startswith("_"):  # probes such as __wrapped__: nothing private is lazy
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _PUBLIC.get(name, (f"{__name__}.{name}", None))
    try:
        value = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:  # a module that exists, missing one of its own imports
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
