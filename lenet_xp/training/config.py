"""A run's configuration, declared once, as one tree:

    RunConfig{model, dtype, seed, val_size, train_limit,
              recipe: Recipe{..., distortion: Distortion{...}},
              placement: Placement{device, ranks, threads, split},
              io: IO{data_dir, verify, download, out, progress, plot}}

Every leaf is a :func:`lenet_xp.settings.setting`: its default, its help text and whether a
resumed run may change it are written on it, and ``scripts/train.py``'s flags, the checkpoint's
``config`` and ``recipe`` entries (the flat form, :meth:`RunConfig.to_dict`) and the rules of
``--resume`` (:func:`resume_changes`) are read from there. What a run computes (model, dtype,
seed, data split, recipe) is fixed for its life; where it runs and what it writes (placement,
io) and the recipe's ``epochs`` may change when it resumes.

A :class:`RunConfig` says what was asked; :meth:`RunConfig.resolve` makes every choice left
open (the model's recipe with the changes asked for, the ranks, threads and split, the data
folder, the output folder) before a run (:class:`~lenet_xp.training.experiment.Experiment`)
is built from it.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable

from ..backend import Backend
from ..data import resolve_data_dir
from ..models import MODELS, get_model
from ..models.recipe import Recipe
from ..settings import branch, flatten, keys, leaves, setting, unflatten
from .communicators import on_rank_zero, rank_backend
from .placement import Placement


@dataclasses.dataclass(frozen=True)
class IO:
    """What a run reads and writes: where its data comes from, where its files go (``out``
    None: none), and what it shows while it trains. A resumed run may change all but ``out``
    (it continues in its own folder)."""

    data_dir: str | None = setting(None, "folder with the four MNIST IDX files (raw or .gz)",
                                   free=True, shown="$LENET_XP_DATA, else ~/.cache/lenet_xp/mnist")
    verify: bool = setting(True, "skip the MNIST checksums (other IDX datasets)", flag="off",
                           free=True)
    download: bool = setting(True, "never try to download missing files", flag="off", free=True)
    out: str | None = setting("runs/{model}", "output folder ({model}: the model's name)",
                              shown="runs/MODEL")
    progress: bool | None = setting(None, "progress bars", flag="switch", free=True,
                                    shown="only when the output is a terminal")
    plot: bool = setting(True, "do not draw curves.png", flag="off", free=True)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a run depends on. ``recipe`` is a :class:`~lenet_xp.models.recipe.Recipe`,
    or a dict of changes (flat recipe keys: ``{"epochs": 3, "distort": "elastic"}``) to the
    model's own recipe."""

    model: str = setting("lenet5", "model to train", choices=tuple(sorted(MODELS)))
    dtype: str = setting("float32", "the dtype of the weights and the data",
                         choices=("float32", "float64"))
    seed: int = setting(0, "seeds weights, split, shuffling and dropout", at_least=0)
    val_size: int = setting(5000, "training images held out for validation", at_least=0)
    train_limit: int | None = setting(None, "train on the first N training images only",
                                      at_least=1, metavar="N")
    recipe: Recipe | dict = dataclasses.field(default_factory=dict)
    placement: Placement = branch(Placement)  # noqa: RUF009 (fields with default factories)
    io: IO = branch(IO)  # noqa: RUF009

    def to_dict(self) -> dict:
        """The flat form a checkpoint's ``config`` keeps: every setting but the recipe (kept
        in full beside it, :meth:`~lenet_xp.models.recipe.Recipe.to_dict`), by its key."""
        return flatten(self)

    @classmethod
    def from_dict(cls, flat: dict, recipe: dict | Recipe) -> RunConfig:
        """The configuration of a flat ``config`` (keys of other lenet_xp versions are
        ignored; missing ones take their defaults) and a ``recipe``."""
        return dataclasses.replace(unflatten(cls, flat), recipe=recipe)

    @property
    def full_recipe(self) -> Recipe:
        """The recipe itself: the model's own with :attr:`recipe`'s changes, or :attr:`recipe`.
        Raises KeyError (unknown model) or ValueError (a bad recipe)."""
        if isinstance(self.recipe, Recipe):
            return self.recipe
        return get_model(self.model).recipe.replace(**self.recipe)

    def resolve(self, comm, log: Callable[[str], None] = print) -> tuple[RunConfig, Backend]:
        """This configuration checked and made definite for a run on ``comm``'s ranks, and the
        backend it runs on: the full recipe, the placement checked and its threads capped
        (:meth:`~lenet_xp.training.placement.Placement.checked`; rank 0 says so with ``log``),
        the data folder found and the output folder named. Raises KeyError (unknown model),
        ValueError (a bad recipe, placement or limit) or DeviceError."""
        recipe = self.full_recipe
        log = on_rank_zero(log, comm)
        backend = rank_backend(self.placement.device, comm)
        backend.dtype(self.dtype)  # DeviceError where the device lacks it
        if recipe.batch_size < comm.size:
            raise ValueError(f"batch size {recipe.batch_size} cannot be shared by "
                             f"{comm.size} ranks: use at least {comm.size}")
        if self.train_limit is not None and self.train_limit < 1:
            raise ValueError(f"train_limit must be >= 1, got {self.train_limit}")
        placement = self.placement.checked(backend, log)
        io = dataclasses.replace(self.io, data_dir=str(resolve_data_dir(self.io.data_dir)),
                                 out=self.out)
        return dataclasses.replace(self, recipe=recipe, placement=placement, io=io), backend

    @property
    def out(self) -> str | None:
        """The output folder, the model's name put in for ``{model}`` (None: no files)."""
        return None if self.io.out is None else self.io.out.replace("{model}", self.model)

    def shows_progress(self) -> bool:
        """Whether progress bars are drawn: as asked, else where stderr is a terminal."""
        return self.io.progress if self.io.progress is not None else sys.stderr.isatty()


#: the settings a resumed run may change, by flat key (and the recipe's, by recipe key)
FREE = {key for key, leaf in keys(RunConfig).items() if leaf.declared.free}
FREE_RECIPE = {key for key, leaf in keys(Recipe).items() if leaf.declared.free}


def resume_changes(saved: RunConfig, changes: dict,
                   recipe_changes: dict) -> tuple[RunConfig, list[str]]:
    """``saved`` (a checkpoint's resolved configuration) with the ``changes`` (flat config
    keys) and ``recipe_changes`` (flat recipe keys) a resumed run may make, and the list of
    those it may not make because they contradict ``saved``, each in words."""
    recipe = saved.full_recipe.to_dict()
    flat = saved.to_dict()
    problems = [f"--{key.replace('_', '-')} {value!r} (the checkpoint's run has {flat[key]!r})"
                for key, value in changes.items()
                if key not in FREE and key in flat and differs(value, flat[key])]
    problems += [f"recipe {key}={value!r} (the checkpoint's run has {recipe.get(key)!r})"
                 for key, value in recipe_changes.items()
                 if key not in FREE_RECIPE and differs(value, recipe.get(key))]
    config = unflatten(RunConfig, {key: value for key, value in changes.items() if key in FREE},
                       saved)
    free_recipe = {key: value for key, value in recipe_changes.items() if key in FREE_RECIPE}
    return dataclasses.replace(config, recipe={**recipe, **free_recipe}), problems


def run_differences(first: dict, second: dict, name: str) -> list[str]:
    """What makes two files' metas (a checkpoint's, and ``name``'s) two runs: their model,
    or a setting or recipe value that a resumed run may not change, in words."""
    differences = ([f"model is {first.get('model')!r}, {name}'s {second.get('model')!r}"]
                   if first.get("model") != second.get("model") else [])
    fixed = [leaf.key for leaf in leaves(RunConfig)
             if not leaf.declared.free and leaf.key not in ("out", "model")]
    config, other = first.get("config", {}), second.get("config", {})
    differences += [f"{key} is {config.get(key)!r}, {name}'s {other.get(key)!r}"
                    for key in sorted(fixed) if differs(config.get(key), other.get(key))]
    recipe, other = first.get("recipe", {}), second.get("recipe", {})
    differences += [f"recipe {key} is {recipe.get(key)!r}, {name}'s {other.get(key)!r}"
                    for key in sorted(recipe.keys() | other.keys())
                    if key not in FREE_RECIPE and differs(recipe.get(key), other.get(key))]
    return differences


def differs(given, saved) -> bool:
    """Whether two values differ as JSON (which turns tuples into lists)."""
    def plain(value):
        return [plain(v) for v in value] if isinstance(value, (list, tuple)) else value
    return plain(given) != plain(saved)
