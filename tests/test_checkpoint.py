"""Checkpoints: round trip with optimiser state, atomic replacement, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.models import get_model
from lenet_xp.optim import Adam
from lenet_xp.runs.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def _trained_model(steps=2):
    backend = get_backend("cpu")
    spec = get_model("lenet5")
    model = spec.build(Random(0), "float32")
    loss = spec.loss()
    optimizer = Adam(model.parameters(), lr=1e-3)
    x = Random(1).normal(backend, (4, 1, 32, 32))
    y = backend.asarray(np.array([0, 1, 2, 3]))
    for _ in range(steps):
        loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        optimizer.step()
    return model, optimizer


def test_round_trip_restores_weights_and_optimiser(tmp_path):
    model, optimizer = _trained_model()
    path = save_checkpoint(tmp_path / "c.npz", model, {"epoch": 3}, optimizer)
    loaded = load_checkpoint(path)
    assert loaded.meta["epoch"] == 3 and loaded.meta["optimizer"]["iterations"] == 2
    fresh = get_model("lenet5").build(Random(9), "float32")
    fresh.load_state_dict(loaded.params)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(to_numpy(fresh.state_dict()[name]), to_numpy(value))
    resumed = Adam(fresh.parameters(), lr=1.0)
    resumed.load_state_dict(loaded.optimizer_state)
    assert resumed.iterations == 2 and resumed.lr == optimizer.lr
    np.testing.assert_array_equal(resumed.state[0]["m"], optimizer.state[0]["m"])


def test_a_failed_write_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    model, optimizer = _trained_model()
    path = save_checkpoint(tmp_path / "c.npz", model, {"epoch": 1})
    good = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, {"epoch": 2})
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"], "no temporary file is left behind"


def test_corrupt_truncated_and_missing_files_are_clear_errors(tmp_path):
    model, _ = _trained_model(steps=0)
    path = save_checkpoint(tmp_path / "c.npz", model, {})
    data = path.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file at all")
    for name in ("truncated.npz", "garbage.npz"):
        with pytest.raises(CheckpointError, match=f"{name} is not a readable lenet_xp checkpoint"):
            load_checkpoint(tmp_path / name)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(CheckpointError, match="no 'meta' entry"):
        load_checkpoint(tmp_path / "plain.npz")


def test_checkpoints_hold_no_pickles(tmp_path):
    model, optimizer = _trained_model()
    path = save_checkpoint(tmp_path / "c.npz", model, {"note": "x"}, optimizer)
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[key].dtype != object for key in archive.files)
