"""The training loop (lenet_xp.training.trainer.Trainer) with its extensions on a small
synthetic task: it learns, stops early, and refuses NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from toy_data import bars
from lenet_xp.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from lenet_xp.losses import SoftmaxCrossEntropy
from lenet_xp.optim import Adam, schedules
from lenet_xp.training.extensions import Validation
from lenet_xp.training.scoring import evaluate
from lenet_xp.training.step import TrainingStep
from lenet_xp.training.trainer import Extension, Feed, Trainer, TrainingDiverged


def _model():
    return Sequential(Conv2d(1, 4, 3, random=Random(0)), ReLU(), MaxPool2d(2), Flatten(),
                      Linear(36, 2, random=Random(1)))


class EachEpoch(Extension):
    """Calls ``call(stats)`` after each epoch, once validation is in its stats."""

    def __init__(self, call):
        self.call = call

    def on_epoch_end(self, trainer, stats):
        self.call(stats)


def fit(model, loss, optimizer, schedule, train, epochs, batch_size, *extensions, workers=1):
    """Train with ``extensions`` (a :class:`Validation`, ...) for ``epochs``: the history."""
    with TrainingStep(model, loss, workers=workers) as step:
        trainer = Trainer(step, optimizer, Feed(train, batch_size, Random(0)), schedule,
                          extensions)
        return trainer.run(epochs)


def test_fit_learns_a_simple_task(backend_name):
    backend = get_backend(backend_name)
    train, val = bars(backend, seed=0), bars(backend, n=128, seed=1)
    model = _model().to(backend)
    loss = SoftmaxCrossEntropy()
    seen = []
    history = fit(model, loss, Adam(model.parameters(), lr=0.01), schedules.Constant(0.01),
                  train, 8, 32, Validation(val), EachEpoch(seen.append))
    assert [s.epoch for s in history] == list(range(8)) and seen == history
    assert history[-1].train_loss < history[0].train_loss
    assert history[-1].val_accuracy >= 0.95
    assert evaluate(model, loss, val) == pytest.approx((history[-1].val_loss, history[-1].val_accuracy))
    assert history[0].optimizer == {} and "rates" not in history[0].line(8)  # Adam reports none


def test_fit_with_a_split_batch_takes_the_same_steps(backend_name):
    """Two threads on halves of each batch: the same weights as one pass, up to rounding."""
    backend = get_backend(backend_name)
    train = bars(backend, n=96, seed=0)
    finals = []
    for split in (False, True):
        model = _model().to(backend)
        loss = SoftmaxCrossEntropy()
        fit(model, loss, Adam(model.parameters(), lr=0.01), schedules.Constant(0.01), train, 2,
            32, workers=2 if split else 1)
        finals.append({k: to_numpy(v) for k, v in model.state_dict().items()})
    for name, value in finals[0].items():
        np.testing.assert_allclose(finals[1][name], value, rtol=1e-4, atol=1e-5, err_msg=name)


def test_schedule_sets_the_learning_rate_per_epoch():
    backend = get_backend("cpu")
    model = _model()
    history = fit(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1.0),
                  schedules.Exponential(0.01, 0.5), bars(backend), 3, 64)
    assert [s.lr for s in history] == [0.01, 0.005, 0.0025]
    assert history[0].val_accuracy is None


def test_nan_stops_training_before_the_epoch_is_reported():
    backend = get_backend("cpu")
    model = _model()
    model.parameters()["4.bias"].data[0] = math.nan
    reported = []
    with pytest.raises(TrainingDiverged, match="loss became nan in epoch 1"):
        fit(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=0.01),
            schedules.Constant(0.01), bars(backend), 2, 64, EachEpoch(reported.append))
    assert reported == []


def test_early_stopping_restores_the_best_epoch():
    backend = get_backend("cpu")
    train, val = bars(backend, seed=0), bars(backend, n=128, seed=1)
    model = _model()
    loss = SoftmaxCrossEntropy()
    snapshots = []

    def remember(stats):
        snapshots.append((stats.val_accuracy, {k: to_numpy(v).copy() for k, v in model.state_dict().items()}))

    # A learning rate this high makes validation accuracy wander; patience 2 stops the run.
    history = fit(model, loss, Adam(model.parameters(), lr=0.5), schedules.Constant(0.5),
                  train, 30, 16, Validation(val, patience=2), EachEpoch(remember))
    best = max(range(len(snapshots)), key=lambda i: (snapshots[i][0], -i))
    assert len(history) - 1 - best == 2, "stops exactly `patience` epochs after the best"
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(to_numpy(value), snapshots[best][1][name])
