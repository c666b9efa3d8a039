"""A training recipe: optimiser, schedule, batch size, epochs, regularisation and
augmentation, as data, and the objects it makes (:func:`make_optimizer`,
:func:`make_schedule`, :func:`make_distortion`, :func:`make_augmentation`, :func:`make_average`).

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

#: recipe field -> the :class:`~lenet_xp.data.augment.Distortion` field it sets (and whose
#: default it takes)
DISTORTION_FIELDS = {"distort": "kind", "distort_shift": "shift", "distort_scale": "scale",
                     "distort_squeeze": "squeeze", "distort_shear": "shear",
                     "distort_rotation": "rotation", "elastic_alpha": "alpha",
                     "elastic_sigma": "sigma"}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How to train. ``lr`` is the initial learning rate; ``schedule`` shapes it per epoch:

    - ``constant``: η;  ``step``: η·γ^⌊e/step_size⌋;  ``exponential``: η·γ^e;
    - ``piecewise``: ``pieces`` = ((epochs, η), ...), the last η held (``lr`` unused).
    """

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "constant"
    gamma: float = 0.1
    step_size: int = 1
    pieces: tuple = ()
    patience: int = 0  # early stopping: epochs without a better validation error; 0 = off
    # exponential moving average of the weights and BN statistics, updated after every step
    # and used for validation, test and the saved model (lenet_xp.optim.ema): its decay; 0 = off
    ema: float = 0.0
    shift: int = 0  # augmentation: random translations of up to this many pixels; 0 = off
    # augmentation: random distortions of every training batch (lenet_xp.data.augment):
    # none, affine, elastic or affine+elastic, with the affine ranges and the elastic field's
    # scale alpha and smoothing sigma (pixels); the defaults are Distortion's own
    distort: str = Distortion.kind
    distort_shift: float = Distortion.shift
    distort_scale: float = Distortion.scale
    distort_squeeze: float = Distortion.squeeze
    distort_shear: float = Distortion.shear
    distort_rotation: float = Distortion.rotation
    elastic_alpha: float = Distortion.alpha
    elastic_sigma: float = Distortion.sigma
    init: str = "default"  # weight initialiser (lenet_xp.init name); default: the model's own
    sdlm_mu: float = 0.02  # SDLM's damping μ (LeCun et al. 1998, appendix C)
    sdlm_samples: int = 500  # SDLM: samples the curvature is averaged over, before each epoch

    def replace(self, **changes) -> "Recipe":
        """A copy with some fields changed; unknown names and bad values raise ValueError.

        Values come from flags, grid files and checkpoints (JSON: lists for tuples), and each
        must be of its field's type: an integer for ``epochs``, a finite number for ``lr``,
        ``pieces`` as ``[[epochs, lr], ...]``; then :meth:`validate` checks the ranges."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown recipe field(s) {', '.join(sorted(unknown))}: use "
                             f"{', '.join(f.name for f in dataclasses.fields(self))}")
        kinds = {f.name: f.type for f in dataclasses.fields(self)}
        problems, typed = [], {}
        for name, value in changes.items():
            try:
                typed[name] = _typed(name, kinds[name], value)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("bad recipe: " + "; ".join(problems))
        recipe = dataclasses.replace(self, **typed)
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
        try:
            make_distortion(self)
        except ValueError as exc:
            problems.append(f"{exc} (in the distort_* and elastic_* fields)")
        if problems:
            raise ValueError("bad recipe: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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
        if isinstance(value, (str, bytes)):
            raise ValueError
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


def make_distortion(recipe: Recipe) -> Distortion:
    """The recipe's training-batch distortions (the identity for ``distort = none``)."""
    return Distortion(**{field: getattr(recipe, name) for name, field in DISTORTION_FIELDS.items()})


def make_augmentation(recipe: Recipe, random):
    """The recipe's augmentation of a training batch, ``augment(x) -> x``, or None: random
    whole-pixel shifts (``shift``), then random distortions (``distort``), both on the
    device, drawing from ``random`` (a Random)."""
    distortion = make_distortion(recipe)
    if not recipe.shift and distortion.kind == "none":
        return None

    def augment(x):
        return distortion(random_shift(x, recipe.shift, random), random)
    return augment
