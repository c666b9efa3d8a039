"""One training run from start to finish: data, model, recipe, loop, test, files.

``scripts/train.py`` parses flags into a :class:`RunConfig` and calls :func:`run` (or
:func:`lenet_xp.training.resume.resume_run` with ``--resume``). The output folder receives
the files of :mod:`lenet_xp.runs.folder`: ``metrics.jsonl``, ``checkpoint.npz`` after every
epoch, ``model.npz`` at the end and ``curves.png``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import Callable

from .._version import __version__
from ..backend import Random
from ..data import prepare_mnist, resolve_data_dir
from ..models import get_model
from ..models.recipe import make_augmentation, make_average, make_optimizer, make_schedule
from ..runs.checkpoint import CheckpointError
from ..runs.folder import RunFolder
from .communicators import create_communicator, rank_backend, set_up_together
from .loop import fit
from .split_batch import split_batch_problems
from .state import META_KEYS, EpochStats, TrainingState
from .strategy import CpuPlan, TrainingStep, fit_threads

#: what a checkpoint's meta must hold for a run to continue from it (:meth:`Experiment.restore`)
RESUME_KEYS = ("model", "config", "recipe", "rng_state", *META_KEYS)
#: the checkpoint group of the moving average's arrays (recipe ``ema``); its update count is
#: the meta entry of the same name
AVERAGE = "ema"


@dataclasses.dataclass
class RunConfig:
    """Everything a run depends on. ``recipe`` holds overrides of the model's default recipe."""

    model: str = "lenet5"
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    data_dir: str | None = None
    val_size: int = 5000
    out: str | None = "runs/lenet5"
    recipe: dict = dataclasses.field(default_factory=dict)
    verify: bool = True
    download: bool = True
    train_limit: int | None = None  # train on the first N training images only (quick checks)
    progress: bool | None = None  # progress bars; None: only where stderr is a terminal
    plot: bool = True  # redraw curves.png in the output folder after every epoch
    # CPU threads of the whole run, shared out between its ranks (BLAS threads, or SplitBatch
    # workers); None: every core on the CPU, the libraries' own elsewhere
    threads: int | None = None
    # Split each batch across a rank's threads (True), leave them to BLAS (False), or choose
    # by batch size (None: lenet_xp.training.split_batch.choose_split).
    split_batch: bool | None = None


@dataclasses.dataclass
class RunResult:
    history: list[EpochStats]
    test_loss: float
    test_accuracy: float
    out: Path | None


class Experiment:
    """A run set up and ready to :meth:`train`: backend, data on the device, model, loss,
    optimiser, the moving average of the weights (``average``, where the recipe keeps one),
    the run's :class:`Random` and its :class:`TrainingState`.

    Setting up writes nothing, so a run that cannot start (bad device, data or recipe, or a
    checkpoint that does not fit, see :meth:`restore`) leaves the output folder as it was.
    Raises DeviceError, DataError, KeyError (unknown model) or ValueError (bad recipe). The
    folder becomes the run's with :meth:`claim`, before its first write, until :meth:`close`.

    ``comm``: the ranks the run is shared out over (default: every MPI rank launched, see
    :func:`lenet_xp.training.communicators.create_communicator`; a sweep's worker ranks each
    train alone with a :class:`~lenet_xp.training.communicators.SingleProcess`).
    """

    def __init__(self, config: RunConfig, log: Callable[[str], None] = print, comm=None):
        self.comm = comm if comm is not None else create_communicator()
        self.log = log if self.comm.rank == 0 else _silent
        self.spec = get_model(config.model)
        self.recipe = self.spec.recipe.replace(**config.recipe)
        self.backend = rank_backend(config.device, self.comm)
        self.backend.dtype(config.dtype)
        self.backend.use()
        if self.backend.note:
            self.log(f"note: {self.backend.note}")
        if self.recipe.batch_size < self.comm.size:
            raise ValueError(f"batch size {self.recipe.batch_size} cannot be shared by "
                             f"{self.comm.size} ranks: use at least {self.comm.size}")
        problems = split_batch_problems(config.threads, self.backend) if config.split_batch else []
        if problems:
            raise ValueError("; ".join(problems))
        if config.train_limit is not None and config.train_limit < 1:
            raise ValueError(f"train_limit must be >= 1, got {config.train_limit}")
        threads = fit_threads(config.threads, self.log) if self.backend.cpu_threads else config.threads
        self.cpu = CpuPlan.choose(threads, self.comm.size, self.recipe.batch_size,
                                  self.backend, config.split_batch)
        self.config = dataclasses.replace(config, data_dir=str(resolve_data_dir(config.data_dir)),
                                          threads=threads)
        self.progress = (self.comm.rank == 0 and
                         (config.progress if config.progress is not None else sys.stderr.isatty()))
        self.random = Random(config.seed)
        self.train_set, self.val_set, self.test_set = self._load_data()
        if self.recipe.batch_size > len(self.train_set):
            raise ValueError(f"batch size {self.recipe.batch_size:,} is larger than the "
                             f"{len(self.train_set):,} training images: use --batch-size "
                             f"{len(self.train_set)} or less")
        self.model = self.spec.make(self.random, config.dtype, self.recipe.init).to(self.backend)
        self.loss = self.spec.loss()
        self.optimizer = make_optimizer(self.recipe, self.model.parameters(), self.random)
        # every rank keeps the average: their weights are the same after every step
        self.average = make_average(self.recipe, self.model)
        self.state = TrainingState()
        self.folder = (RunFolder(config.out, plot=config.plot, log=log,
                                 title=f"{self.spec.name}, seed {config.seed}: learning curves")
                       if config.out and self.comm.rank == 0 else None)

    def _load_data(self):
        config, spec = self.config, self.spec
        train_set, val_set, test_set = prepare_mnist(
            self.backend, config.data_dir, val_size=config.val_size,
            normalisation=spec.normalisation,
            pad_to=spec.input_size if spec.input_size != 28 else None, seed=config.seed,
            dtype=config.dtype, verify=config.verify, download=config.download,
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
                "recipe": self.recipe.to_dict(), "config": dataclasses.asdict(self.config),
                "data": {"normalisation": self.spec.normalisation,
                         "input_size": self.spec.input_size,
                         "pixel_stats": dataclasses.asdict(stats) if stats is not None else None}}

    def checkpoint_meta(self) -> dict:
        """:attr:`meta` plus what resuming needs (:data:`RESUME_KEYS`): the random state, the
        training state (:meth:`TrainingState.to_meta`; its best weights go into the
        checkpoint's groups) and the moving average's update count (its arrays: the group
        :data:`AVERAGE`). :meth:`restore` reads it back."""
        meta = {**self.meta, "rng_state": self.random.state(), **self.state.to_meta()}
        if self.average is not None:
            meta[AVERAGE] = {"updates": self.average.state_dict()["updates"]}
        return meta

    def checkpoint_groups(self) -> dict:
        """The checkpoint's array groups: the training state's and the moving average's."""
        groups = self.state.groups()
        if self.average is not None:
            groups[AVERAGE] = self.average.state_dict()["averages"]
        return groups

    def __enter__(self) -> "Experiment":
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

    def restore(self, checkpoint) -> None:
        """Put this run where ``checkpoint`` (a :class:`~lenet_xp.runs.checkpoint.Checkpoint`
        this class wrote) left it: weights, optimiser, random and training state. Raises
        CheckpointError if the checkpoint does not fit the model or any of them is damaged;
        it writes nothing, so a refused checkpoint leaves the folder as it was."""
        meta = checkpoint.meta
        if meta["model"] != self.spec.name:
            raise CheckpointError(f"{checkpoint.path} is a {meta['model']} checkpoint, not "
                                  f"{self.spec.name}")
        try:
            self.model.load_state_dict(checkpoint.params)
            self.optimizer.load_state_dict(checkpoint.optimizer_state)
            if self.average is not None:
                self.average.load_state_dict({"updates": meta[AVERAGE]["updates"],
                                              "averages": checkpoint.groups[AVERAGE]})
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"{checkpoint.path} does not fit the {meta['model']} model: "
                                  f"{exc}") from exc
        try:
            self.random.set_state(meta["rng_state"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{checkpoint.path}: its random state is damaged "
                                  f"({type(exc).__name__}: {exc})") from None
        try:
            self.state = TrainingState.from_checkpoint(meta, checkpoint.groups, self.backend)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{checkpoint.path}: its training history is damaged "
                                  f"({type(exc).__name__}: {exc})") from None

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
        if self.folder is not None:
            self.folder.restart(self.state.history)

        with TrainingStep(self.model, self.loss, self.comm, self.cpu.workers) as step:
            history = fit(self.model, self.loss, self.optimizer, make_schedule(recipe),
                          self.train_set, self.val_set, epochs=recipe.epochs,
                          batch_size=recipe.batch_size, random=self.random,
                          patience=recipe.patience,
                          augment=make_augmentation(recipe, self.random),
                          forward_backward=step, average=self.average, progress=self.progress,
                          on_epoch=self._on_epoch, state=self.state, evaluator=step.evaluate)
            return self._test(history, step.evaluate)

    def _on_epoch(self, stats: EpochStats) -> None:
        self.log(stats.line(self.recipe.epochs))
        if self.folder is not None:
            self.folder.add_epoch(stats)
            self.folder.save_checkpoint(self.model, self.checkpoint_meta(), self.optimizer,
                                        self.checkpoint_groups())

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


def _silent(line: str) -> None:
    """The log of ranks other than 0: only rank 0 prints."""


def run(config: RunConfig, log: Callable[[str], None] = print, comm=None,
        overwrite: bool = False) -> RunResult:
    """Train ``config.model`` on MNIST and evaluate it on the test set.

    Raises DeviceError (bad device or no GPU), DataError (missing or corrupt data),
    KeyError (unknown model), ValueError (bad recipe) or RunFolderError (an output folder
    that is a file, not writable, in use by another run, or holding another run's weights,
    which ``overwrite`` replaces) before any training starts.
    """
    comm = comm if comm is not None else create_communicator()
    with contextlib.ExitStack() as stack:
        with set_up_together(comm):  # a rank that cannot start stops them all, with one message
            experiment = stack.enter_context(Experiment(config, log, comm))
            experiment.claim(new=True, overwrite=overwrite)
        return experiment.train()
