"""The training loop: epochs of batches through the step and the optimiser, and what happens
around them done by extensions, as Chainer's trainer extensions and Lightning's callbacks do.

:class:`Trainer` runs the loop itself and nothing else: before each epoch the random state
starts the epoch, the schedule sets the learning rate and the optimiser's ``before_epoch``
runs (SDLM estimates its curvatures there); each batch is augmented, passed through the step
(forward and backward) and the optimiser steps; after the epoch its :class:`EpochStats` are
made. Everything else is an :class:`Extension` (:mod:`lenet_xp.training.extensions`):
validation and early stopping, the moving average of the weights, the progress bar, the log
and the run folder.

Per batch nothing leaves the device: the loss and the count of right predictions are summed
into device scalars (:class:`Totals`), read at the epoch's end (and by the progress bar at
most once a second).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

from ..backend import Random
from ..data import DeviceDataset, iterate_batches
from .state import EpochStats, TrainingState

DIVERGING = r"(overflow|invalid value|divide by zero) encountered"
"""numpy's RuntimeWarnings of a run that diverges: they come before its loss turns NaN,
which :class:`TrainingDiverged` then says once, with the fix (8 lines of them came first)."""

#: the order in which extensions see an epoch's end: those that add to its stats (validation)
#: before those that read them (the log, the run folder), as Chainer's priorities
PRIORITY_WRITER, PRIORITY_READER = 300, 100


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclasses.dataclass
class Feed:
    """What the trainer trains on: ``dataset`` in shuffled batches of ``batch_size`` drawn
    with ``random`` (the run's random state, which also starts every epoch), each passed
    through ``augment(x) -> x`` where given."""

    dataset: DeviceDataset
    batch_size: int
    random: Random
    augment: Callable | None = None


@dataclasses.dataclass
class Totals:
    """The running sums of an epoch on the device: ``loss`` (Σ n_b · E_b), ``correct`` right
    predictions, over ``seen`` images."""

    loss: Any = 0.0
    correct: Any = 0
    seen: int = 0

    def means(self) -> tuple[float, float]:
        """(mean loss, accuracy) so far: two reads from the device."""
        return float(self.loss) / self.seen, int(self.correct) / self.seen


class Extension:
    """What a :class:`Trainer` calls as it trains; every hook is optional. Extensions are
    called in the order given, except at an epoch's end, where higher ``priority`` comes
    first (:data:`PRIORITY_WRITER`: adds to the epoch's stats; :data:`PRIORITY_READER`: reads
    them)."""

    priority = PRIORITY_READER

    def on_train_start(self, trainer: Trainer) -> None:
        """Before the first epoch of :meth:`Trainer.run`."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Before epoch ``epoch``'s first batch (0-based)."""

    def on_step_end(self, trainer: Trainer, totals: Totals) -> None:
        """After each optimiser step, with the epoch's running sums."""

    def on_epoch_end(self, trainer: Trainer, stats: EpochStats) -> None:
        """After each epoch, with its stats (an extension of :data:`PRIORITY_WRITER` may
        fill them in; those after it see them in ``trainer.state.history``)."""

    def should_stop(self, trainer: Trainer) -> bool:
        """Whether training stops before the next epoch."""
        return False

    def on_train_end(self, trainer: Trainer) -> None:
        """After :meth:`Trainer.run`, however it ends (an exception too)."""


class Trainer:
    """Trains ``step``'s model (a :class:`~lenet_xp.training.step.TrainingStep`, which also
    knows its ``loss``) with ``optimizer`` on ``feed``, the learning rate of epoch e being
    ``schedule(e)``, calling ``extensions`` as it goes; ``state`` (default: a fresh one) is
    where the run stands, updated in place.

    Passing the state a checkpoint saved, with the model, optimiser and random state restored
    to that moment, continues the run from epoch ``state.epoch`` with the same numbers as a
    run that never stopped.

    Attributes:
        model, loss: the step's.
        validated: the model that validation scores and early stopping keeps: the model, or
            a moving average of it (:class:`~lenet_xp.training.extensions.MovingAverage`).
        epochs: the epoch :meth:`run` trains up to.
    """

    def __init__(self, step, optimizer, feed: Feed, schedule: Callable[[int], float],
                 extensions=(), state: TrainingState | None = None):
        self.step, self.optimizer, self.feed, self.schedule = step, optimizer, feed, schedule
        self.model, self.loss = step.model, step.loss
        self.validated = self.model
        self.extensions = list(extensions)
        self.state = state if state is not None else TrainingState()
        self.epochs = 0
        self._batches = iterate_batches(feed.dataset, feed.batch_size, shuffle=True,
                                        random=feed.random)

    def run(self, epochs: int) -> list[EpochStats]:
        """Train up to epoch ``epochs`` (fewer if an extension stops it); return every epoch's
        stats. On return the model holds the weights validated last or best: the best epoch's
        where early stopping kept them, else the validated model's.

        Raises:
            TrainingDiverged: the training loss is NaN or infinite; no extension sees that
                epoch's end, so the last good checkpoint stays the last one written. numpy's
                warnings of overflow on the way there (:data:`DIVERGING`) are not shown.
        """
        self.epochs = epochs
        state = self.state
        start = time.perf_counter() - (state.history[-1].elapsed if state.history else 0.0)
        for extension in self.extensions:
            extension.on_train_start(self)
        try:
            while state.epoch < epochs and not self._stopped():
                self._finish(self._epoch(state.epoch), start)
        finally:
            for extension in self.extensions:
                extension.on_train_end(self)
        if state.best_weights is not None:
            self.model.load_state_dict(state.best_weights)
        elif self.validated is not self.model:
            self.model.load_state_dict(self.validated.state_dict())
        return state.history

    def _stopped(self) -> bool:
        """Whether an extension stops the training (early stopping)."""
        return any(extension.should_stop(self) for extension in self.extensions)

    def _finish(self, stats: EpochStats, start: float) -> None:
        """An epoch's end: the extensions that add to its stats, then its time since the run's
        ``start`` and its place in the history, then those that read them."""
        ordered = sorted(self.extensions, key=lambda ext: -ext.priority)
        for extension in [ext for ext in ordered if ext.priority >= PRIORITY_WRITER]:
            extension.on_epoch_end(self, stats)
        stats.elapsed = time.perf_counter() - start
        self.state.history.append(stats)
        for extension in [ext for ext in ordered if ext.priority < PRIORITY_WRITER]:
            extension.on_epoch_end(self, stats)

    def _epoch(self, epoch: int) -> EpochStats:
        """Train one epoch; its stats, validation not yet in them."""
        feed, optimizer = self.feed, self.optimizer
        feed.random.start_epoch()
        optimizer.lr = self.schedule(epoch)
        optimizer.before_epoch(self.model, self.loss, feed.dataset)
        summary = optimizer.epoch_summary()
        for extension in self.extensions:
            extension.on_epoch_start(self, epoch)
        began = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", DIVERGING, RuntimeWarning)
            train_loss, train_accuracy = self.train_epoch()
        feed.dataset.backend.synchronize()
        seconds = time.perf_counter() - began
        if not math.isfinite(train_loss):
            raise TrainingDiverged(
                f"the training loss became {train_loss} in epoch {epoch + 1}; try a lower --lr")
        return EpochStats(epoch, optimizer.lr, train_loss, train_accuracy, None, None, seconds,
                          len(feed.dataset) / seconds, 0.0, summary)

    def train_epoch(self) -> tuple[float, float]:
        """One pass over the shuffled batches: step and optimiser step per batch; returns the
        mean training loss and accuracy."""
        totals, xp = Totals(), self.feed.dataset.backend.xp
        self.model.train()
        for x, y in self._batches:
            if self.feed.augment is not None:
                x = self.feed.augment(x)
            outputs, batch_loss = self.step(x, y)
            self.optimizer.step()
            totals.loss = totals.loss + batch_loss * y.shape[0]
            totals.correct = totals.correct + xp.sum(xp.astype(self.loss.predict(outputs) == y,
                                                               xp.int64))
            totals.seen += y.shape[0]
            for extension in self.extensions:
                extension.on_step_end(self, totals)
        return totals.means()
