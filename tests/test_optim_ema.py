"""The moving average of the weights (recipe ``ema``): its arithmetic against numpy on every
backend, its state, and the training loop's use of it (validation on the average, training
weights untouched, the average as the final model)."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from toy_data import bars
from lenet_xp.layers import BatchNorm1d, Conv2d, Flatten, Linear, ReLU, Sequential
from lenet_xp.losses import SoftmaxCrossEntropy
from lenet_xp.models import get_model
from lenet_xp.models.recipe import make_average
from lenet_xp.optim import Adam, ExponentialMovingAverage, schedules
from lenet_xp.training.extensions import MovingAverage, Validation
from lenet_xp.training.scoring import evaluate
from lenet_xp.training.step import TrainingStep
from lenet_xp.training.trainer import Extension, Feed, Trainer

STEPS = 5


def _small(backend, dtype="float64"):
    return Sequential(("fc", Linear(3, 2, random=Random(0), dtype=dtype)),
                      ("bn", BatchNorm1d(2, dtype=dtype))).to(backend)


def _snapshot(model) -> dict:
    return {name: to_numpy(value).copy() for name, value in model.state_dict().items()}


def _set(model, values: dict) -> None:
    model.load_state_dict(values)


def test_the_average_follows_the_formula_on_every_backend(backend_name):
    """a ← d_t a + (1 − d_t) θ with d_t = min(decay, (1 + t)/(10 + t)), for weights and the
    batch-norm running statistics, against plain numpy over a few steps."""
    backend = get_backend(backend_name)
    model = _small(backend)
    rng = np.random.default_rng(0)
    average = ExponentialMovingAverage(model, decay=0.5)
    expected = _snapshot(model)
    decays = []
    for t in range(STEPS):
        new = {name: rng.normal(size=value.shape) for name, value in expected.items()}
        _set(model, new)
        decays.append(average.current_decay())
        average.update()
        d = min(0.5, (1 + t) / (10 + t))
        expected = {name: d * expected[name] + (1 - d) * new[name] for name in expected}
    assert decays == pytest.approx([0.1, 2 / 11, 3 / 12, 4 / 13, 5 / 14])  # warm-up: < 0.5
    assert average.updates == STEPS
    got = _snapshot(average.model)
    assert got.keys() == expected.keys() and "bn.running_mean" in got
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, err_msg=name)


def test_the_decay_is_reached_after_the_warm_up():
    average = ExponentialMovingAverage(_small("cpu"), decay=0.99)
    average.updates = 100_000
    assert average.current_decay() == 0.99


def test_the_average_is_a_copy_of_its_own():
    """Training steps do not reach the average but through update(), and evaluating the
    average does not touch the training weights."""
    model = _small("cpu")
    average = ExponentialMovingAverage(model, decay=0.9)
    assert not average.model.training
    before = _snapshot(average.model)
    for param in model.parameters().values():
        param.data += 1.0
    for name, value in _snapshot(average.model).items():
        np.testing.assert_array_equal(value, before[name])
    trained = _snapshot(model)
    average.model.forward(np.ones((4, 3)))
    for name, value in _snapshot(model).items():
        np.testing.assert_array_equal(value, trained[name])


def test_state_dict_continues_bit_for_bit():
    rng = np.random.default_rng(1)
    steps = [{name: rng.normal(size=value.shape) for name, value in _snapshot(_small("cpu")).items()}
             for _ in range(4)]
    straight = ExponentialMovingAverage(model := _small("cpu"), decay=0.9)
    for values in steps:
        _set(model, values)
        straight.update()
    first = ExponentialMovingAverage(model := _small("cpu"), decay=0.9)
    for values in steps[:2]:
        _set(model, values)
        first.update()
    saved = first.state_dict()
    saved["averages"] = {name: to_numpy(value).copy() for name, value in saved["averages"].items()}  # as a checkpoint
    second = ExponentialMovingAverage(model := _small("cpu"), decay=0.9)
    second.load_state_dict(saved)
    for values in steps[2:]:
        _set(model, values)
        second.update()
    assert second.updates == straight.updates == 4
    for name, value in _snapshot(straight.model).items():
        np.testing.assert_array_equal(_snapshot(second.model)[name], value, err_msg=name)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 1.5])
def test_a_decay_outside_0_1_is_refused(decay):
    with pytest.raises(ValueError, match=r"decay must be in \(0, 1\)"):
        ExponentialMovingAverage(_small("cpu"), decay)


def test_the_recipe_field():
    spec = get_model("bn_cnn")
    assert make_average(spec.recipe.replace(ema=0.0), _small("cpu")) is None
    average = make_average(spec.recipe.replace(ema=0.99), _small("cpu"))
    assert isinstance(average, ExponentialMovingAverage) and average.decay == 0.99
    with pytest.raises(ValueError, match=r"ema must be in \[0, 1\)"):
        spec.recipe.replace(ema=1.0)


def _bn_net():
    return Sequential(Conv2d(1, 3, 3, random=Random(0)), ReLU(), Flatten(),
                      Linear(48, 8, random=Random(1)), BatchNorm1d(8), ReLU(),
                      Linear(8, 2, random=Random(2)))


def test_fit_validates_the_average_and_ends_with_it(backend_name):
    backend = get_backend(backend_name)
    train, val = bars(backend, 128, size=6, seed=0), bars(backend, 64, size=6, seed=1)
    model, loss = _bn_net().to(backend), SoftmaxCrossEntropy()
    average = ExponentialMovingAverage(model, decay=0.9)
    scored = []

    class AfterEpoch(Extension):
        def on_epoch_end(self, trainer, stats):
            # the figure the epoch recorded is the average's, not the training weights'
            scored.append((stats, evaluate(average.model, loss, val), evaluate(model, loss, val),
                           _snapshot(model)))

    trainer = Trainer(TrainingStep(model, loss), Adam(model.parameters(), lr=0.05),
                      Feed(train, 32, Random(0)), schedules.Constant(0.05),
                      [MovingAverage(average), Validation(val), AfterEpoch()])
    history = trainer.run(3)
    assert average.updates == 3 * 4  # every step
    for stats, of_average, of_training, _ in scored:
        assert (stats.val_loss, stats.val_accuracy) == pytest.approx(of_average)
    assert any(of_average[0] != pytest.approx(of_training[0]) for _, of_average, of_training, _ in scored)
    # the final model is the average, and the last training weights are not
    final, averaged, trained = _snapshot(model), _snapshot(average.model), scored[-1][3]
    for name in final:
        np.testing.assert_array_equal(final[name], averaged[name], err_msg=name)
    assert any(not np.array_equal(final[name], trained[name]) for name in final)
    assert evaluate(model, loss, val) == pytest.approx((history[-1].val_loss, history[-1].val_accuracy))
