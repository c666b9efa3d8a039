"""The training state a checkpoint keeps (lenet_xp.training.state): its state_dict() and
load_state_dict() in one place, so that what is read back is what was written."""

from __future__ import annotations

import json
import math

import numpy as np

from lenet_xp.backend import get_backend, to_numpy
from lenet_xp.training.state import EpochStats, TrainingState


def _stats(epoch):
    return EpochStats(epoch, 1e-3, 0.5, 0.9, 0.4, 0.92 + epoch / 100, 1.0, 100.0,
                      float(epoch + 1), {"rate_min": 1e-4})


def _stored(state: dict) -> dict:
    """``state`` as a checkpoint gives it back: JSON through text, arrays on the host."""
    best = state.pop("best", None)
    stored = json.loads(json.dumps(state))
    if best is not None:
        stored["best"] = {key: to_numpy(value) for key, value in best.items()}
    return stored


def test_the_state_survives_its_state_dict(other_backend_name):
    backend = get_backend(other_backend_name)
    best = {"C1.weight": backend.asarray(np.arange(6.0).reshape(2, 3))}
    state = TrainingState(history=[_stats(0), _stats(1)], best_error=0.07, best_weights=best,
                          waited=1)
    stored = _stored(state.state_dict())
    assert {"history", "early_stopping", "best"} <= set(stored) and stored["epoch"] == 2
    restored = TrainingState()
    restored.load_state_dict(stored)
    assert restored.history == state.history
    assert (restored.best_error, restored.waited) == (0.07, 1)
    np.testing.assert_array_equal(to_numpy(restored.best_weights["C1.weight"]),
                                  to_numpy(best["C1.weight"]))


def test_a_fresh_state_has_no_best_weights_and_an_infinite_best_error():
    state = TrainingState(history=[_stats(0)])
    stored = _stored(state.state_dict())
    assert stored["early_stopping"] == {"best_error": None, "waited": 0}
    assert "best" not in stored
    restored = TrainingState()
    restored.load_state_dict(stored)
    assert math.isinf(restored.best_error) and restored.best_weights is None
