"""The training loop on a small synthetic task: it learns, stops early, and refuses NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from toy_data import bars
from lenet_xp.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from lenet_xp.losses import SoftmaxCrossEntropy
from lenet_xp.optim import Adam, schedules
from lenet_xp.training.loop import TrainingDiverged, evaluate, fit
from lenet_xp.training.split_batch import SplitBatch


def _model():
    return Sequential(Conv2d(1, 4, 3, random=Random(0)), ReLU(), MaxPool2d(2), Flatten(),
                      Linear(36, 2, random=Random(1)))


def test_fit_learns_a_simple_task(backend_name):
    backend = get_backend(backend_name)
    train, val = bars(backend, seed=0), bars(backend, n=128, seed=1)
    model = _model().to(backend)
    loss = SoftmaxCrossEntropy()
    seen = []
    history = fit(model, loss, Adam(model.parameters(), lr=0.01), schedules.Constant(0.01),
                  train, val, epochs=8, batch_size=32, random=Random(0), progress=False,
                  on_epoch=seen.append)
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
        step = SplitBatch(model, loss, 2) if split else None
        fit(model, loss, Adam(model.parameters(), lr=0.01), schedules.Constant(0.01), train, None,
            epochs=2, batch_size=32, random=Random(0), progress=False, forward_backward=step)
        finals.append({k: to_numpy(v) for k, v in model.state_dict().items()})
        if step is not None:
            step.close()
    for name, value in finals[0].items():
        np.testing.assert_allclose(finals[1][name], value, rtol=1e-4, atol=1e-5, err_msg=name)


def test_schedule_sets_the_learning_rate_per_epoch():
    backend = get_backend("cpu")
    model = _model()
    history = fit(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1.0),
                  schedules.Exponential(0.01, 0.5), bars(backend), None, epochs=3,
                  batch_size=64, random=Random(0), progress=False)
    assert [s.lr for s in history] == [0.01, 0.005, 0.0025]
    assert history[0].val_accuracy is None


def test_nan_stops_training_before_the_epoch_is_reported():
    backend = get_backend("cpu")
    model = _model()
    model.parameters()["4.bias"].data[0] = math.nan
    reported = []
    with pytest.raises(TrainingDiverged, match="loss became nan in epoch 1"):
        fit(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=0.01),
            schedules.Constant(0.01), bars(backend), None, epochs=2, batch_size=64,
            random=Random(0), progress=False, on_epoch=reported.append)
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
                  train, val, epochs=30, batch_size=16, random=Random(0), patience=2,
                  progress=False, on_epoch=remember)
    best = max(range(len(snapshots)), key=lambda i: (snapshots[i][0], -i))
    assert len(history) - 1 - best == 2, "stops exactly `patience` epochs after the best"
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(to_numpy(value), snapshots[best][1][name])
