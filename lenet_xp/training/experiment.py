"""One training run from start to finish: data, model, recipe, trainer, test, files.

``scripts/train.py`` parses flags into a :class:`~lenet_xp.training.config.RunConfig` and calls
:func:`run` (or :func:`lenet_xp.training.resume.resume_run` with ``--resume``). The output
folder receives the files of :mod:`lenet_xp.runs.folder`: ``metrics.jsonl``,
``checkpoint.npz`` after every epoch, ``model.npz`` at the end and ``curves.png``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from pathlib import Path

from .._version import __version__
from ..backend import Backend, Random
from ..data import prepare_mnist
from ..models import get_model
from ..models.recipe import Recipe, make_augmentation, make_average, make_optimizer, make_schedule
from ..runs.checkpoint import CheckpointError
from ..runs.folder import RunFolder
from .communicators import create_communicator, on_rank_zero, set_up_together
from .config import RunConfig
from .extensions import Extension, LogReport, MovingAverage, ProgressBar, RunFiles, Validation
from .state import EpochStats, TrainingState
from .step import TrainingStep
from .trainer import Feed, Trainer


@dataclasses.dataclass
class RunResult:
    history: list[EpochStats]
    test_loss: float
    test_accuracy: float
    out: Path | None


class Experiment:
    """A run set up and ready to :meth:`train`, from a resolved configuration and its backend
    (:meth:`RunConfig.resolve <lenet_xp.training.config.RunConfig.resolve>`): data on the
    device, model, loss, optimiser, the moving average of the weights (``average``, where the
    recipe keeps one), the run's :class:`Random` and its :class:`TrainingState`. Its whole
    state is :meth:`state_dict` / :meth:`load_state_dict`.

    Setting up writes nothing, so a run that cannot start (bad device, data or recipe, or a
    checkpoint that does not fit, see :meth:`load_state_dict`) leaves the output folder as it
    was. Raises DataError or ValueError. The folder becomes the run's with :meth:`claim`,
    before its first write, until :meth:`close`.

    ``comm``: the ranks the run is shared out over, the ones ``config`` was resolved for (a
    sweep's worker ranks each train alone with a
    :class:`~lenet_xp.training.communicators.SingleProcess`).
    """

    def __init__(self, config: RunConfig, backend: Backend, comm,
                 log: Callable[[str], None] = print):
        self.config, self.backend, self.comm = config, backend, comm
        self.log = on_rank_zero(log, comm)
        self.spec = get_model(config.model)
        if not isinstance(config.recipe, Recipe):
            raise TypeError("an Experiment takes a resolved configuration (RunConfig.resolve), "
                            f"whose recipe is a Recipe, not {type(config.recipe).__name__}")
        self.recipe = config.recipe
        backend.use()
        if backend.note:
            self.log(f"note: {backend.note}")
        self.cpu = config.placement.rank_plan(backend, self.recipe.batch_size, comm.size)
        self.progress = comm.rank == 0 and config.shows_progress()
        self.random = Random(config.seed)
        self.train_set, self.val_set, self.test_set = self._load_data()
        if self.recipe.batch_size > len(self.train_set):
            raise ValueError(f"batch size {self.recipe.batch_size:,} is larger than the "
                             f"{len(self.train_set):,} training images: use --batch-size "
                             f"{len(self.train_set)} or less")
        self.model = self.spec.make(self.random, config.dtype, self.recipe.init).to(backend)
        self.loss = self.spec.loss()
        self.optimizer = make_optimizer(self.recipe, self.model.parameters(), self.random)
        # every rank keeps the average: their weights are the same after every step
        self.average = make_average(self.recipe, self.model)
        self.state = TrainingState()
        self.folder = (RunFolder(config.io.out, plot=config.io.plot, log=log,
                                 title=f"{self.spec.name}, seed {config.seed}: learning curves")
                       if config.io.out and comm.rank == 0 else None)

    def _load_data(self):
        config, spec = self.config, self.spec
        train_set, val_set, test_set = prepare_mnist(
            self.backend, config.io.data_dir, val_size=config.val_size,
            normalisation=spec.normalisation,
            pad_to=spec.input_size if spec.input_size != 28 else None, seed=config.seed,
            dtype=config.dtype, verify=config.io.verify, download=config.io.download,
            classes=spec.classes)
        if config.train_limit is not None:
            train_set = dataclasses.replace(train_set,
                                            images=train_set.images[:config.train_limit, ...],
                                            labels=train_set.labels[:config.train_limit])
        return train_set, val_set, test_set

    @property
    def meta(self) -> dict:
        """What every file of the run records about it (model.npz and checkpoints)."""
        stats = self.train_set.pixel_stats
        return {"model": self.spec.name, "lenet_xp_version": __version__,
                "recipe": self.recipe.to_dict(), "config": self.config.to_dict(),
                "data": {"normalisation": self.spec.normalisation,
                         "input_size": self.spec.input_size,
                         "pixel_stats": dataclasses.asdict(stats) if stats is not None else None}}

    def state_dict(self) -> dict:
        """The run's whole state, what continuing it needs (plain arrays and JSON, on the
        device; :mod:`lenet_xp.runs.checkpoint` writes it): ``model``, ``optimizer``,
        ``average`` (where the recipe keeps one), ``random`` and ``training``."""
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "random": self.random.state_dict(), "training": self.state.state_dict()}
        if self.average is not None:
            state["average"] = self.average.state_dict()
        return state

    def load_state_dict(self, state: dict, source: str = "the state") -> None:
        """Put this run where ``state`` (a :meth:`state_dict`, as a checkpoint gives it back)
        left it. Raises CheckpointError naming ``source`` where a part does not fit the model
        or is damaged; it writes nothing, so a refused checkpoint leaves the folder as it was."""
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.average is not None:
                self.average.load_state_dict(state["average"])
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"{source} does not fit the {self.spec.name} model: "
                                  f"{exc}") from exc
        try:
            self.random.load_state_dict(state["random"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: its random state is damaged "
                                  f"({type(exc).__name__}: {exc})") from None
        try:
            self.state.load_state_dict(state["training"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{source}: its training history is damaged "
                                  f"({type(exc).__name__}: {exc})") from None

    def __enter__(self) -> Experiment:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def claim(self, new: bool = True, overwrite: bool = False) -> None:
        """Take the output folder before anything is written to it (rank 0 alone writes):
        lock it against other runs, and for a ``new`` run refuse a folder that holds another
        run's weights unless ``overwrite`` (:meth:`lenet_xp.runs.folder.RunFolder.claim`).
        Raises RunFolderError; :meth:`close` (or leaving ``with``) lets go of it."""
        if self.folder is not None:
            self.folder.claim(new=new, overwrite=overwrite)

    def close(self) -> None:
        if self.folder is not None:
            self.folder.close()

    def train(self) -> RunResult:
        """Train to the recipe's last epoch (from ``state.epoch`` on), test, write the files."""
        config, recipe, log = self.config, self.recipe, self.log
        log(f"lenet_xp {__version__}: {self.spec.name} ({self.model.num_parameters():,} "
            f"parameters) on {self.backend.name}, {config.dtype}, seed {config.seed}")
        log(f"data: {len(self.train_set):,} train / "
            f"{len(self.val_set) if self.val_set else 0:,} validation / "
            f"{len(self.test_set):,} test images, {self.spec.normalisation} normalisation")
        log("recipe: " + ", ".join(f"{k}={v}" for k, v in recipe.to_dict().items()))
        if self.average is not None:
            log(f"moving average of the weights (decay {recipe.ema}): validation, test and "
                f"model.npz use it")
        if self.comm.size > 1:
            log(f"MPI: {self.comm.size} ranks, each with its share of every batch of "
                f"{recipe.batch_size}")
        if self.cpu.threads is not None:
            self.cpu.apply(self.backend)
            log(f"CPU threads{' per rank' if self.comm.size > 1 else ''}: {self.cpu.threads}, "
                + ("each batch split across them" if self.cpu.split
                   else "in the BLAS matrix products"))
        if self.state.epoch:
            log(f"resuming after epoch {self.state.epoch} of {recipe.epochs}")
        with TrainingStep(self.model, self.loss, self.comm, self.cpu.workers) as step:
            feed = Feed(self.train_set, recipe.batch_size, self.random,
                        make_augmentation(recipe, self.random))
            trainer = Trainer(step, self.optimizer, feed, make_schedule(recipe),
                              self._extensions(step), self.state)
            return self._test(trainer.run(recipe.epochs), step.evaluate)

    def _extensions(self, step: TrainingStep) -> list[Extension]:
        """The progress bar (on a terminal), the moving average (where the recipe keeps one),
        validation, the log and the run folder (rank 0's, where it writes one)."""
        extensions: list[Extension] = [ProgressBar()] if self.progress else []
        if self.average is not None:
            extensions.append(MovingAverage(self.average))
        extensions += [Validation(self.val_set, self.recipe.patience, step.evaluate),
                       LogReport(self.log)]
        if self.folder is not None:
            extensions.append(RunFiles(self.folder, self.state_dict, self.meta))
        return extensions

    def _test(self, history: list[EpochStats], evaluate: Callable) -> RunResult:
        """Score the trained model on the test set with ``evaluate`` (the step's: sharded
        over ranks), log it and write the run's final files."""
        test_loss, test_accuracy = evaluate(self.model, self.loss, self.test_set)
        self.log(f"test accuracy {100 * test_accuracy:.2f}% (error "
                 f"{100 * (1 - test_accuracy):.2f}%, loss {test_loss:.4f}) after "
                 f"{len(history)} epochs, {history[-1].elapsed:.1f} s of training")
        if self.folder is None:
            return RunResult(history, test_loss, test_accuracy, None)
        result = {"test_loss": test_loss, "test_accuracy": test_accuracy, "epochs": len(history)}
        self.folder.add_test(result)
        self.folder.save_model(self.model, {**self.meta, "epoch": len(history), **result})
        self.log(f"wrote {self.folder.model} and {self.folder.metrics}")
        return RunResult(history, test_loss, test_accuracy, self.folder.path)


def run(config: RunConfig, log: Callable[[str], None] = print, comm=None,
        overwrite: bool = False) -> RunResult:
    """Train ``config.model`` on MNIST and evaluate it on the test set.

    ``comm``: the ranks the run is shared out over (default: every MPI rank launched, see
    :func:`lenet_xp.training.communicators.create_communicator`).

    Raises DeviceError (bad device or no GPU), DataError (missing or corrupt data),
    KeyError (unknown model), ValueError (bad recipe, placement or limit) or RunFolderError
    (an output folder that is a file, not writable, in use by another run, or holding another
    run's weights, which ``overwrite`` replaces) before any training starts.
    """
    comm = comm if comm is not None else create_communicator()
    with contextlib.ExitStack() as stack:
        with set_up_together(comm):  # a rank that cannot start stops them all, with one message
            resolved, backend = config.resolve(comm, log)
            experiment = stack.enter_context(Experiment(resolved, backend, comm, log))
            experiment.claim(new=True, overwrite=overwrite)
        return experiment.train()
