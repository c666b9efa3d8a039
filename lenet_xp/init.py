"""Weight initialisers. Each draws on the host with a seeded :class:`~lenet_xp.backend.Random`
(so a seed gives the same weights on every backend) and returns a CPU array; layers are moved
to their device afterwards with ``.to(device)``.

==================  ===============================================  ========================
name                distribution                                     source
==================  ===============================================  ========================
``he_normal``       N(0, 2/F_in)                                     He et al. 2015
``he_uniform``      U(−√(6/F_in), +√(6/F_in))                        He et al. 2015
``xavier_normal``   N(0, 2/(F_in + F_out))                           Glorot & Bengio 2010
``xavier_uniform``  U(−√(6/(F_in + F_out)), +√(6/(F_in + F_out)))    Glorot & Bengio 2010
``lecun_uniform``   U(−2.4/F_in, +2.4/F_in)                          LeCun et al. 1998
``fan_in_uniform``  U(−1/√F_in, +1/√F_in)                            PyTorch's default
``gaussian:σ``      N(0, σ²)  (:class:`Gaussian`)                    (fixed σ, as in Caffe)
==================  ===============================================  ========================

F_in is the number of inputs of one unit (C·K·K for a convolution), F_out the number of
units one input feeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .backend import Random, get_backend

Initializer = Callable[[Random, tuple, int, int, str], object]


def he_normal(random: Random, shape, fan_in: int, fan_out: int, dtype: str = "float32"):
    """N(0, 2/F_in): He et al. 2015, for ReLU networks."""
    return random.normal(get_backend("cpu"), shape, math.sqrt(2.0 / fan_in), dtype)


def he_uniform(random: Random, shape, fan_in: int, fan_out: int, dtype: str = "float32"):
    """U(−√(6/F_in), +√(6/F_in)): He et al. 2015, uniform."""
    bound = math.sqrt(6.0 / fan_in)
    return random.uniform(get_backend("cpu"), shape, -bound, bound, dtype)


def xavier_normal(random: Random, shape, fan_in: int, fan_out: int, dtype: str = "float32"):
    """N(0, 2/(F_in + F_out)): Glorot & Bengio 2010."""
    return random.normal(get_backend("cpu"), shape, math.sqrt(2.0 / (fan_in + fan_out)), dtype)


def xavier_uniform(random: Random, shape, fan_in: int, fan_out: int, dtype: str = "float32"):
    """U(−√(6/(F_in + F_out)), +√(6/(F_in + F_out))): Glorot & Bengio 2010."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return random.uniform(get_backend("cpu"), shape, -bound, bound, dtype)


def lecun_uniform(random: Random, shape, fan_in: int, fan_out: int, dtype: str = "float32"):
    """U(−2.4/F_in, +2.4/F_in): LeCun et al. 1998, appendix A."""
    bound = 2.4 / fan_in
    return random.uniform(get_backend("cpu"), shape, -bound, bound, dtype)


def fan_in_uniform(random: Random, shape, fan_in: int, fan_out: int, dtype: str = "float32"):
    """U(−1/√F_in, +1/√F_in): PyTorch's default for its layers."""
    bound = 1.0 / math.sqrt(fan_in)
    return random.uniform(get_backend("cpu"), shape, -bound, bound, dtype)


class Gaussian:
    """N(0, σ²) whatever the fan-in."""

    def __init__(self, std: float):
        self.std = std

    def __call__(self, random: Random, shape, fan_in: int, fan_out: int, dtype: str = "float32"):
        return random.normal(get_backend("cpu"), shape, self.std, dtype)

    def __repr__(self) -> str:
        return f"Gaussian({self.std})"


INITIALIZERS: dict[str, Initializer] = {
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "lecun_uniform": lecun_uniform,
    "fan_in_uniform": fan_in_uniform,
}


def get_initializer(name: str) -> Initializer:
    """The initialiser called ``name``: a key of :data:`INITIALIZERS` or ``gaussian:σ``
    (:class:`Gaussian`, e.g. ``gaussian:0.01``). Raises ValueError naming the choices."""
    if name in INITIALIZERS:
        return INITIALIZERS[name]
    kind, _, std = name.partition(":")
    if kind == "gaussian":
        try:
            sigma = float(std)
        except ValueError:
            sigma = math.nan
        if sigma > 0:
            return Gaussian(sigma)
    raise ValueError(f"unknown initialiser {name!r}: use one of {', '.join(INITIALIZERS)} or "
                     "gaussian:SIGMA (e.g. gaussian:0.01), or pass a callable")


def initialize(init: str | Initializer, random: Random, shape, fan_in: int, fan_out: int,
               dtype: str = "float32"):
    """Draw an array of ``shape`` with the initialiser named (or given as a callable)."""
    draw = init if callable(init) else get_initializer(init)
    return draw(random, tuple(shape), fan_in, fan_out, dtype)


def zeros(shape, dtype: str = "float32"):
    """A CPU array of zeros (biases)."""
    cpu = get_backend("cpu")
    return cpu.xp.zeros(tuple(shape), dtype=cpu.dtype(dtype))
