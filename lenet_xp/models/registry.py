"""Models by name: each entry builds its network and says how it is fed, scored and trained."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import NoDraws, Random
from ..layers import Sequential
from .recipe import Recipe


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything needed to train and use one model.

    Attributes:
        name: the registry name (``--model``).
        build: ``build(random, dtype) -> Sequential`` with weights drawn from ``random``;
            a model whose initialiser can be chosen also takes ``init`` (see :meth:`make`).
        loss: a zero-argument factory of the loss (which also gives ``predict``).
        input_size: the square input side the network expects (32 for padded MNIST, 28 raw).
        normalisation: the pixel normalisation of :mod:`lenet_xp.data.preprocess`.
        recipe: the default training recipe (``scripts/train.py`` flags override parts).
        description: one line for ``--help`` and the README.
    """

    name: str
    build: Callable[..., Sequential]
    loss: Callable[[], Any]  # a loss of lenet_xp.losses
    input_size: int
    normalisation: str
    recipe: Recipe
    description: str

    def make(self, random: Random, dtype: str = "float32", init: str = "default") -> Sequential:
        """The network with weights drawn from ``random``: by the model's own initialiser
        (``init="default"``) or by the :mod:`lenet_xp.init` initialiser named ``init``
        (the recipe's ``init``). Raises ValueError where the model fixes its own."""
        if init == "default":
            return self.build(random, dtype)
        if not self.takes_init:
            choosable = sorted(name for name, spec in MODELS.items() if spec.takes_init)
            raise ValueError(f"model {self.name!r} has its own initialisation, so init={init!r} "
                             f"cannot apply; models that take one: {', '.join(choosable)}")
        return self.build(random, dtype, init=init)

    def skeleton(self, dtype: str = "float32") -> Sequential:
        """The network on the host with every weight 0, none drawn: its shapes and dtypes
        (what a checkpoint's entries must have), to be filled by ``load_state_dict``."""
        return self.build(NoDraws(), dtype)

    @functools.cached_property
    def classes(self) -> int:
        """K, the classes the model scores: the width of its output for one blank input
        (1, 1, S, S), computed once by its :meth:`skeleton`, in evaluation mode."""
        network = self.skeleton().eval()
        blank = np.zeros((1, 1, self.input_size, self.input_size), np.float32)
        return int(network.forward(blank).shape[1])

    @property
    def takes_init(self) -> bool:
        return "init" in inspect.signature(self.build).parameters


MODELS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    if spec.name in MODELS:
        raise ValueError(f"a model named {spec.name!r} is already registered")
    MODELS[spec.name] = spec
    return spec


def get_model(name: str) -> ModelSpec:
    """The registered :class:`ModelSpec` called ``name``; KeyError lists the choices."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}: choose from {', '.join(sorted(MODELS))}")
    return MODELS[name]
