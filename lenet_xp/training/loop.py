"""The training loop: epochs of forward, loss, backward and optimiser step, and evaluation.

Per batch nothing leaves the device: the loss and the count of correct predictions are summed
into device scalars, read at the epoch's end, and by the progress bar at most once every
:data:`PROGRESS_REFRESH_S` seconds (every read waits for the device's queue to drain).
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from typing import Callable

from tqdm import tqdm

from ..data import DeviceDataset, iterate_batches
from .state import EpochStats, TrainingState
from .step import forward_backward as one_pass


PROGRESS_REFRESH_S = 1.0
"""Seconds between two readings of the running loss and accuracy for the progress bar."""

DIVERGING = r"(overflow|invalid value|divide by zero) encountered"
"""numpy's RuntimeWarnings of a run that diverges: they come before its loss turns NaN,
which :class:`TrainingDiverged` then says once, with the fix (8 lines of them came first)."""


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


def evaluate(model, loss, dataset: DeviceDataset, batch_size: int = 1000) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``dataset`` in evaluation mode (no caches kept)."""
    loss_sum, correct = evaluate_sums(model, loss, dataset, 0, len(dataset), batch_size)
    return float(loss_sum) / len(dataset), int(correct) / len(dataset)


def evaluate_sums(model, loss, dataset: DeviceDataset, start: int, stop: int,
                  batch_size: int = 1000):
    """The summed loss and the number of right predictions over examples [start, stop) of
    ``dataset``, as device scalars (a rank's shard in data-parallel evaluation)."""
    xp = dataset.backend.xp
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    for first in range(start, stop, batch_size):
        last = min(first + batch_size, stop)
        x, y = dataset.images[first:last, ...], dataset.labels[first:last]
        outputs = model.forward(x)
        total_loss = total_loss + loss.forward(outputs, y) * (last - first)
        correct = correct + xp.sum(xp.astype(loss.predict(outputs) == y, xp.int64))
    model.train(was_training)
    return total_loss, correct


def train_epoch(model, loss, optimizer, batches, *, augment: Callable | None = None,
                forward_backward: Callable | None = None, average=None, description: str = "",
                progress: bool = True) -> tuple[float, float]:
    """One pass over ``batches`` (each passed through ``augment`` if given); returns the mean
    training loss and accuracy. ``average`` (an
    :class:`~lenet_xp.optim.ema.ExponentialMovingAverage` of ``model``) is updated after
    every optimiser step.

    ``forward_backward(x, y) -> (outputs, batch_loss)`` computes each step's gradients: by
    default one pass of ``model`` and ``loss`` (:func:`lenet_xp.training.step.forward_backward`),
    or the :class:`lenet_xp.training.strategy.TrainingStep` of a run (threads, ranks).
    """
    forward_backward = forward_backward or functools.partial(one_pass, model, loss)
    dataset = batches.dataset
    xp = dataset.backend.xp
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(total=len(dataset), desc=description, unit="img", unit_scale=True, leave=False,
               disable=not progress, dynamic_ncols=True)
    shown = time.monotonic()
    with bar:
        for x, y in batches:
            if augment is not None:
                x = augment(x)
            outputs, batch_loss = forward_backward(x, y)
            optimizer.step()
            if average is not None:
                average.update()
            total_loss = total_loss + batch_loss * y.shape[0]
            correct = correct + xp.sum(xp.astype(loss.predict(outputs) == y, xp.int64))
            seen += y.shape[0]
            bar.update(y.shape[0])
            if progress and time.monotonic() - shown >= PROGRESS_REFRESH_S:
                bar.set_postfix(loss=f"{float(total_loss) / seen:.4f}",
                                acc=f"{int(correct) / seen:.4f}")
                shown = time.monotonic()
    return float(total_loss) / seen, int(correct) / seen


def fit(model, loss, optimizer, schedule: Callable[[int], float], train_set: DeviceDataset,
        val_set: DeviceDataset | None, *, epochs: int, batch_size: int, random,
        patience: int = 0, augment: Callable | None = None,
        forward_backward: Callable | None = None, average=None, progress: bool = True,
        on_epoch: Callable[[EpochStats], None] | None = None,
        state: TrainingState | None = None,
        evaluator: Callable | None = None) -> list[EpochStats]:
    """Train up to epoch ``epochs`` (fewer with early stopping); return every epoch's stats.

    Before each epoch ``random.start_epoch()`` runs, the learning rate is set to
    ``schedule(epoch)`` and the optimiser's ``before_epoch`` hook runs (SDLM estimates its
    curvatures there). After each epoch the model is evaluated on ``val_set``, ``state`` is
    updated and ``on_epoch(stats)`` is called (checkpoints, logs). ``augment`` maps each
    training batch x to an augmented one; ``forward_backward`` is passed to :func:`train_epoch`;
    ``evaluator(model, loss, dataset) -> (loss, accuracy)`` (default :func:`evaluate`) scores
    the validation set (:class:`lenet_xp.training.data_parallel.DataParallel` shares it out over ranks).
    With ``patience`` > 0, training stops after that many epochs without a lower validation
    error, and the best epoch's weights are restored.

    ``average`` (an :class:`~lenet_xp.optim.ema.ExponentialMovingAverage` of ``model``) is
    updated after every step, and its averaged copy is what the validation scores and early
    stopping keeps. On return ``model`` holds the weights validated last or best: the best
    epoch's with early stopping, else the average where there is one, else the last step's.

    ``state`` (default: a fresh one) is updated in place. Passing the state a checkpoint
    saved, with the model, optimiser and ``random`` restored to that moment, continues the
    run from epoch ``state.epoch`` with the same numbers as a run that never stopped.

    Raises:
        TrainingDiverged: the training loss is NaN or infinite; ``on_epoch`` is not called for
            that epoch, so the last good checkpoint stays the last one written. numpy's
            warnings of overflow on the way there (:data:`DIVERGING`) are not shown.
    """
    state = state if state is not None else TrainingState()
    batches = iterate_batches(train_set, batch_size, shuffle=True, random=random)
    start = time.perf_counter() - (state.history[-1].elapsed if state.history else 0.0)
    validated = average.model if average is not None else model
    while state.epoch < epochs and not state.stopped_early(patience):
        epoch = state.epoch
        random.start_epoch()
        optimizer.lr = schedule(epoch)
        optimizer.before_epoch(model, loss, train_set)
        summary = optimizer.epoch_summary()
        epoch_start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", DIVERGING, RuntimeWarning)
            train_loss, train_accuracy = train_epoch(
                model, loss, optimizer, batches, augment=augment,
                forward_backward=forward_backward, average=average,
                description=f"epoch {epoch + 1}/{epochs}", progress=progress)
        train_set.backend.synchronize()
        seconds = time.perf_counter() - epoch_start
        if not math.isfinite(train_loss):
            raise TrainingDiverged(
                f"the training loss became {train_loss} in epoch {epoch + 1}; try a lower --lr")
        val_loss = val_accuracy = None
        if val_set is not None and len(val_set):
            val_loss, val_accuracy = (evaluator or evaluate)(validated, loss, val_set)
        stats = EpochStats(epoch, optimizer.lr, train_loss, train_accuracy, val_loss,
                           val_accuracy, seconds, len(train_set) / seconds,
                           time.perf_counter() - start, summary)
        state.history.append(stats)
        state.track(val_accuracy, validated, patience)
        if on_epoch is not None:
            on_epoch(stats)
    if state.best_weights is not None:
        model.load_state_dict(state.best_weights)
    elif average is not None:
        model.load_state_dict(average.model.state_dict())
    return state.history
