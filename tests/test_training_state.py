"""The training state a checkpoint keeps (lenet_xp.training.state): written and read in one
place, so that what is read back is what was written."""

from __future__ import annotations

import json
import math

import numpy as np

from lenet_xp.backend import get_backend, to_numpy
from lenet_xp.training.state import BEST, META_KEYS, EpochStats, TrainingState


def _stats(epoch):
    return EpochStats(epoch, 1e-3, 0.5, 0.9, 0.4, 0.92 + epoch / 100, 1.0, 100.0,
                      float(epoch + 1), {"rate_min": 1e-4})


def test_the_state_survives_its_checkpoint_entries(other_backend_name):
    backend = get_backend(other_backend_name)
    best = {"C1.weight": backend.asarray(np.arange(6.0).reshape(2, 3))}
    state = TrainingState(history=[_stats(0), _stats(1)], best_error=0.07, best_weights=best,
                          waited=1)
    meta = json.loads(json.dumps(state.to_meta()))  # as the checkpoint stores it
    assert set(META_KEYS) <= set(meta) and meta["epoch"] == 2
    groups = {name: {key: to_numpy(value) for key, value in arrays.items()}
              for name, arrays in state.groups().items()}
    assert list(groups) == [BEST]
    restored = TrainingState.from_checkpoint(meta, groups, backend)
    assert restored.history == state.history
    assert (restored.best_error, restored.waited) == (0.07, 1)
    np.testing.assert_array_equal(to_numpy(restored.best_weights["C1.weight"]),
                                  to_numpy(best["C1.weight"]))


def test_a_fresh_state_has_no_best_weights_and_an_infinite_best_error():
    state = TrainingState(history=[_stats(0)])
    meta = json.loads(json.dumps(state.to_meta()))
    assert meta["early_stopping"] == {"best_error": None, "waited": 0}
    assert state.groups() == {}
    restored = TrainingState.from_checkpoint(meta, {}, get_backend("cpu"))
    assert math.isinf(restored.best_error) and restored.best_weights is None
