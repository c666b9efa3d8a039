"""What a :class:`~lenet_xp.training.trainer.Trainer` does around its loop, one concept an
extension, as Chainer's trainer extensions (``Evaluator``, ``LogReport``, ``ProgressBar``,
``snapshot``, ``PlotReport``) and Lightning's callbacks:

=====================  ===================================================================
:class:`Validation`    scores the validated model after every epoch; early stopping
:class:`MovingAverage` folds the weights into their moving average after every step, and
                       makes the average the model that is validated and kept
:class:`ProgressBar`   a bar per epoch, with the running loss and accuracy
:class:`LogReport`     one line per epoch
:class:`RunFiles`      the run folder: ``metrics.jsonl``, ``checkpoint.npz`` and
                       ``curves.png`` after every epoch (:class:`lenet_xp.runs.folder.RunFolder`)
=====================  ===================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tqdm import tqdm

from ..data import DeviceDataset
from .scoring import evaluate
from .state import EpochStats
from .trainer import PRIORITY_WRITER, Extension, Totals, Trainer

PROGRESS_REFRESH_S = 1.0
"""Seconds between two readings of the running loss and accuracy for the progress bar (every
read waits for the device's queue to drain)."""


class Validation(Extension):
    """After every epoch, the validated model's mean loss and accuracy on ``dataset`` (none
    without one) go into the epoch's stats, scored by ``evaluate(model, loss, dataset)`` (a
    run's step shares it out over MPI ranks). With ``patience`` > 0, training stops after that
    many epochs without a lower validation error, and the best epoch's weights are kept (in
    the trainer's state) for the model to end with."""

    priority = PRIORITY_WRITER

    def __init__(self, dataset: DeviceDataset | None, patience: int = 0,
                 evaluate: Callable = evaluate):
        self.dataset, self.patience, self.evaluate = dataset, patience, evaluate

    def on_epoch_end(self, trainer: Trainer, stats: EpochStats) -> None:
        if self.dataset is not None and len(self.dataset):
            stats.val_loss, stats.val_accuracy = self.evaluate(trainer.validated, trainer.loss,
                                                               self.dataset)
        trainer.state.track(stats.val_accuracy, trainer.validated, self.patience)

    def should_stop(self, trainer: Trainer) -> bool:
        return trainer.state.stopped_early(self.patience)


class MovingAverage(Extension):
    """``average`` (an :class:`~lenet_xp.optim.ema.ExponentialMovingAverage` of the model) is
    updated after every optimiser step; its averaged copy is the model that validation scores
    and early stopping keeps, and the one the model ends with."""

    def __init__(self, average):
        self.average = average

    def on_train_start(self, trainer: Trainer) -> None:
        trainer.validated = self.average.model

    def on_step_end(self, trainer: Trainer, totals: Totals) -> None:
        self.average.update()


class ProgressBar(Extension):
    """A tqdm bar per epoch (images done, the running loss and accuracy, read at most every
    :data:`PROGRESS_REFRESH_S` seconds), gone when the epoch ends."""

    priority = PRIORITY_WRITER + 1  # the bar goes before anything is written below it

    def __init__(self):
        self._bar: tqdm | None = None
        self._shown = 0.0

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self._bar = tqdm(total=len(trainer.feed.dataset),
                         desc=f"epoch {epoch + 1}/{trainer.epochs}", unit="img", unit_scale=True,
                         leave=False, dynamic_ncols=True)
        self._shown = time.monotonic()

    def on_step_end(self, trainer: Trainer, totals: Totals) -> None:
        assert self._bar is not None  # made at the epoch's start
        self._bar.update(totals.seen - self._bar.n)
        if time.monotonic() - self._shown >= PROGRESS_REFRESH_S:
            loss, accuracy = totals.means()
            self._bar.set_postfix(loss=f"{loss:.4f}", acc=f"{accuracy:.4f}")
            self._shown = time.monotonic()

    def on_epoch_end(self, trainer: Trainer, stats: EpochStats) -> None:
        self.on_train_end(trainer)

    def on_train_end(self, trainer: Trainer) -> None:
        if self._bar is not None:  # an epoch that stopped midway leaves no bar behind
            self._bar.close()
            self._bar = None

class LogReport(Extension):
    """Each epoch's line (:meth:`EpochStats.line`) to ``log``."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log

    def on_epoch_end(self, trainer: Trainer, stats: EpochStats) -> None:
        self.log(stats.line(trainer.epochs))


class RunFiles(Extension):
    """The run folder (a :class:`~lenet_xp.runs.folder.RunFolder`) as the run goes:
    ``metrics.jsonl`` restarted from the finished epochs, then after every epoch its record,
    the checkpoint of ``snapshot()`` (the run's whole state, written with ``meta``) and the
    curves."""

    def __init__(self, folder, snapshot: Callable[[], dict], meta: dict):
        self.folder, self.snapshot, self.meta = folder, snapshot, meta

    def on_train_start(self, trainer: Trainer) -> None:
        self.folder.restart(trainer.state.history)

    def on_epoch_end(self, trainer: Trainer, stats: EpochStats) -> None:
        self.folder.add_epoch(stats)
        self.folder.save_checkpoint(self.snapshot(), self.meta)
