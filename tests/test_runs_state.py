"""A run's state tree in a checkpoint (lenet_xp.runs.checkpoint): every part written and read
back as it was (format 2's layout: param/, optim/<i>/, ema/, best/ and the meta's entries),
and the parts a run needs to continue named where they are missing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.models import get_model
from lenet_xp.optim import Adam, ExponentialMovingAverage
from lenet_xp.runs.checkpoint import CheckpointError, load_checkpoint, save_state
from lenet_xp.training.state import EpochStats, TrainingState

META = {"model": "lenet5", "config": {"dtype": "float32"}, "recipe": {"epochs": 2}}


def _state():
    """A lenet5's whole state after two steps: weights, Adam, a moving average, the random
    state and a training state with best weights."""
    backend, spec, random = get_backend("cpu"), get_model("lenet5"), Random(5)
    model = spec.build(random, "float32")
    optimizer, average = Adam(model.parameters(), lr=1e-3), ExponentialMovingAverage(model, 0.9)
    x, y = random.normal(backend, (4, 1, 32, 32)), backend.asarray(np.array([0, 1, 2, 3]))
    for _ in range(2):
        loss = spec.loss()
        loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        optimizer.step()
        average.update()
    training = TrainingState([EpochStats(0, 1e-3, 0.5, 0.9, 0.4, 0.9, 1.0, 10.0, 1.0)], 0.1)
    training.track(0.95, model, patience=2)
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "average": average.state_dict(), "random": random.state_dict(),
            "training": training.state_dict()}


def _same(read, written, where=""):
    if isinstance(written, dict):
        assert read.keys() == written.keys(), where
        for key in written:
            _same(read[key], written[key], f"{where}/{key}")
    elif isinstance(written, list):
        assert len(read) == len(written), where
        for index, (a, b) in enumerate(zip(read, written)):
            _same(a, b, f"{where}/{index}")
    elif hasattr(written, "shape"):
        np.testing.assert_array_equal(read, to_numpy(written), err_msg=where)
    else:
        assert read == json.loads(json.dumps(written)), where


def test_every_part_of_the_state_comes_back_as_it_was(tmp_path):
    state = _state()
    path = save_state(tmp_path / "checkpoint.npz", state, META)
    checkpoint = load_checkpoint(path)
    _same(checkpoint.state, state)
    checkpoint.require_resumable()
    meta = checkpoint.meta
    assert meta["epoch"] == 1 and meta["metrics"]["val_accuracy"] == 0.9
    assert meta["ema"] == {"updates": 2} and meta["optimizer"]["iterations"] == 2
    with np.load(path) as archive:  # format 2's names, which today's runs folders hold
        names = {name.split("/")[0] for name in archive.files}
    assert names == {"param", "optim", "ema", "best", "meta"}


def test_a_file_of_weights_alone_names_what_a_resume_lacks(tmp_path):
    state = _state()
    path = save_state(tmp_path / "model.npz", {"model": state["model"]}, META)
    checkpoint = load_checkpoint(path)
    assert set(checkpoint.state) == {"model"} and checkpoint.optimizer_state is None
    with pytest.raises(CheckpointError, match="cannot be resumed: it has no rng_state, history, "
                                              "early_stopping, optimizer"):
        checkpoint.require_resumable()


def test_the_shapes_a_checkpoint_is_held_to_come_from_a_network_that_draws_nothing():
    spec = get_model("lenet5")
    skeleton, drawn = spec.skeleton(), spec.build(Random(0), "float32")
    assert {k: (v.shape, v.dtype) for k, v in skeleton.state_dict().items()} == \
        {k: (v.shape, v.dtype) for k, v in drawn.state_dict().items()}
    assert all(not np.any(param.data) for param in skeleton.parameters().values())
