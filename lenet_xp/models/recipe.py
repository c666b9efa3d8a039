"""A training recipe: optimiser, schedule, batch size, epochs, regularisation and
augmentation, as data, and the objects it makes (:func:`make_optimizer`,
:func:`make_schedule`, :func:`make_augmentation`, :func:`make_average`).

Every model in the zoo carries a default :class:`Recipe`; ``scripts/train.py`` flags replace
single fields (``--lr``, ``--epochs``, ...) and ``--recipe key=value`` any of them. It sits
with the zoo, above the optimisers and the data it names, so that a model's spec can hold
one; the training run (:mod:`lenet_xp.training.experiment`) makes its objects.
"""

from __future__ import annotations

import dataclasses
import math

from ..data import random_shift
from ..data.augment import Distortion
from ..init import get_initializer
from ..optim import SDLM, SGD, AdaGrad, Adam, ExponentialMovingAverage, schedules
from ..settings import branch, flatten, keys, setting, unflatten


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How to train. ``lr`` is the initial learning rate; ``schedule`` shapes it per epoch:

    - ``constant``: η;  ``step``: η·γ^⌊e/step_size⌋;  ``exponential``: η·γ^e;
    - ``piecewise``: ``pieces`` = ((epochs, η), ...), the last η held (``lr`` unused).

    Its flat form (:meth:`to_dict`, :meth:`replace`: flags, grid files, checkpoints) names the
    :class:`~lenet_xp.data.augment.Distortion`'s fields by their recipe keys (``distort``,
    ``distort_shift``, ``elastic_alpha``, ...), declared on that class with their defaults.
    """

    epochs: int = setting(10, "epochs to train (with --resume: to train the run further)",
                          free=True, at_least=1)
    batch_size: int = setting(64, "images per training step", at_least=1)
    optimizer: str = setting("adam", "sgd, adam, adagrad, ...")
    lr: float = setting(1e-3, "initial learning rate")
    momentum: float = setting(0.0, "SGD momentum")
    nesterov: bool = setting(False, "SGD: Nesterov's momentum", flag=None)
    weight_decay: float = setting(0.0, "L2 coefficient")
    schedule: str = setting("constant", "constant, step, exponential or piecewise")
    gamma: float = setting(0.1, "the step and exponential schedules' factor γ", flag=None)
    step_size: int = setting(1, "the step schedule's epochs per step", flag=None)
    pieces: tuple = setting((), "the piecewise schedule's [[epochs, lr], ...]", flag=None)
    patience: int = setting(0, "early stopping: epochs without a better validation error; "
                               "0 = off", flag=None)
    ema: float = setting(0.0, "the decay of the moving average of the weights and batch "
                              "normalisation's statistics, updated after every step and used "
                              "for validation, test and the saved model; 0 = off", flag=None)
    shift: int = setting(0, "augmentation: random translations of up to this many pixels; "
                            "0 = off", flag=None)
    distortion: Distortion = branch(Distortion)  # noqa: RUF009 (a field with a default factory)
    init: str = setting("default", "weight initialiser (a lenet_xp.init name); default: the "
                                   "model's own", flag=None)
    sdlm_mu: float = setting(0.02, "SDLM's damping μ (LeCun et al. 1998, appendix C)", flag=None)
    sdlm_samples: int = setting(500, "SDLM: samples the curvature is averaged over, before "
                                     "each epoch", flag=None)

    def replace(self, **changes) -> Recipe:
        """A copy with some fields changed, by their flat keys (``lr``, ``distort_shift``,
        ...); unknown keys and bad values raise ValueError.

        Values come from flags, grid files and checkpoints (JSON: lists for tuples), and each
        must be of its field's type: an integer for ``epochs``, a finite number for ``lr``,
        ``pieces`` as ``[[epochs, lr], ...]``; then :meth:`validate` checks the ranges."""
        fields = keys(Recipe)
        unknown = set(changes) - set(fields)
        if unknown:
            raise ValueError(f"unknown recipe field(s) {', '.join(sorted(unknown))}: use "
                             f"{', '.join(fields)}")
        problems, typed = [], {}
        for name, value in changes.items():
            try:
                typed[name] = _typed(name, fields[name].kind, value)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("bad recipe: " + "; ".join(problems))
        try:
            recipe = unflatten(Recipe, typed, self)
        except ValueError as exc:  # a Distortion's ranges, checked as it is made
            raise ValueError(f"bad recipe: {exc} (in the distort_* and elastic_* fields)") from None
        recipe.validate()
        return recipe

    def validate(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1 (got {self.epochs})")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1 (got {self.batch_size})")
        if not 0 <= self.momentum < 1:
            problems.append(f"momentum must be in [0, 1) (got {self.momentum})")
        if self.gamma <= 0 or self.step_size < 1:
            problems.append(f"gamma must be > 0 and step_size >= 1 (got {self.gamma}, "
                            f"{self.step_size})")
        if self.patience < 0 or self.shift < 0:
            problems.append(f"patience must be >= 0 and shift >= 0 (got {self.patience}, "
                            f"{self.shift})")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"unknown optimizer {self.optimizer!r} (choose {', '.join(OPTIMIZERS)})")
        if self.schedule not in SCHEDULES:
            problems.append(f"unknown schedule {self.schedule!r} (choose {', '.join(SCHEDULES)})")
        if self.lr <= 0:
            problems.append(f"lr must be > 0 (got {self.lr})")
        if self.weight_decay < 0:
            problems.append(f"weight_decay must be >= 0 (got {self.weight_decay})")
        if not 0 <= self.ema < 1:
            problems.append(f"ema must be in [0, 1): the average's decay, e.g. 0.999, or 0 for "
                            f"none (got {self.ema})")
        if self.sdlm_mu <= 0 or self.sdlm_samples < 1:
            problems.append(f"need sdlm_mu > 0 and sdlm_samples >= 1 (got {self.sdlm_mu}, "
                            f"{self.sdlm_samples})")
        if self.init != "default":
            try:
                get_initializer(self.init)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("bad recipe: " + "; ".join(problems))

    def to_dict(self) -> dict:
        """The flat form: every field by its key (the distortion's as ``distort_*``, ...)."""
        return flatten(self)


def _typed(name: str, kind: str, value):
    """``value`` as recipe field ``name`` of type ``kind`` ("int", "float", ...) takes it, or
    ValueError naming the field: booleans are not numbers, numbers must be finite."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int":
        if not (number and isinstance(value, int)):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        return value
    if kind == "float":
        if not (number and math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ValueError(f"{name} must be text, got {value!r}")
        return value
    return _pieces(value)  # the one tuple field


def _pieces(value) -> tuple:
    """``pieces`` as ((epochs, lr), ...): positive integer epochs, finite positive rates."""
    def piece(item):
        epochs, lr = item
        _typed("epochs", "int", epochs)
        if epochs < 1 or _typed("lr", "float", lr) <= 0:
            raise ValueError
        return epochs, float(lr)
    try:
        if isinstance(value, (str, bytes)):  # iterable, but not a sequence of pieces
            raise TypeError
        return tuple(piece(item) for item in value)
    except (TypeError, ValueError):
        raise ValueError(f"pieces must be [[epochs, lr], ...] with whole epochs >= 1 and "
                         f"finite rates > 0, got {value!r}") from None


# name -> (parameters, recipe, random) -> optimiser; only SDLM draws random numbers
OPTIMIZERS = {
    "sgd": lambda params, r, random: SGD(params, r.lr, r.momentum, r.nesterov, r.weight_decay),
    "adam": lambda params, r, random: Adam(params, r.lr, weight_decay=r.weight_decay),
    "adagrad": lambda params, r, random: AdaGrad(params, r.lr, weight_decay=r.weight_decay),
    # lr is the paper's per-sample η: SDLM multiplies it by the batch size (see optim/sdlm.py)
    "sdlm": lambda params, r, random: SDLM(params, r.lr, r.sdlm_mu, r.sdlm_samples,
                                           lr_scale=r.batch_size, weight_decay=r.weight_decay,
                                           random=random),
}

SCHEDULES = {
    "constant": lambda r: schedules.Constant(r.lr),
    "step": lambda r: schedules.Step(r.lr, r.step_size, r.gamma),
    "exponential": lambda r: schedules.Exponential(r.lr, r.gamma),
    "piecewise": lambda r: schedules.Piecewise(r.pieces),
}


def make_optimizer(recipe: Recipe, params, random=None):
    """The recipe's optimiser over ``params``; ``random`` (a Random) seeds SDLM's samples."""
    return OPTIMIZERS[recipe.optimizer](params, recipe, random)


def make_average(recipe: Recipe, model) -> ExponentialMovingAverage | None:
    """The moving average of ``model``'s weights the recipe asks for (``ema``), or None."""
    return ExponentialMovingAverage(model, recipe.ema) if recipe.ema else None


def make_schedule(recipe: Recipe):
    return SCHEDULES[recipe.schedule](recipe)


def make_augmentation(recipe: Recipe, random):
    """The recipe's augmentation of a training batch, ``augment(x) -> x``, or None: random
    whole-pixel shifts (``shift``), then random distortions (``distort``), both on the
    device, drawing from ``random`` (a Random)."""
    distortion = recipe.distortion
    if not recipe.shift and distortion.kind == "none":
        return None

    def augment(x):
        return distortion(random_shift(x, recipe.shift, random), random)
    return augment
