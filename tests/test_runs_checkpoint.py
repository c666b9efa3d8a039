"""Checkpoints: round trip with optimiser state, atomic replacement, clear errors."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.models import get_model
from lenet_xp.optim import Adam
from lenet_xp.runs.checkpoint import CheckpointError, load_checkpoint, read_meta, save_checkpoint


#: what every lenet_xp checkpoint's meta names: its model (whose shapes the file must have)
LENET5 = {"model": "lenet5", "config": {"dtype": "float32"}}


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
    path = save_checkpoint(tmp_path / "c.npz", model, {**LENET5, "epoch": 3}, optimizer)
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


def test_read_meta_gives_the_settings_without_the_weights(tmp_path):
    model, optimizer = _trained_model()
    path = save_checkpoint(tmp_path / "c.npz", model, {**LENET5, "epoch": 3}, optimizer)
    assert read_meta(path) == load_checkpoint(path).meta
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        read_meta(tmp_path / "missing.npz")
    with pytest.raises(CheckpointError, match="is a folder"):
        read_meta(tmp_path)
    (tmp_path / "cut.npz").write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable lenet_xp file"):
        read_meta(tmp_path / "cut.npz")


def test_a_failed_write_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    model, optimizer = _trained_model()
    path = save_checkpoint(tmp_path / "c.npz", model, {**LENET5, "epoch": 1})
    good = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, {**LENET5, "epoch": 2})
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"], "no temporary file is left behind"


def test_corrupt_truncated_and_missing_files_are_clear_errors(tmp_path):
    model, _ = _trained_model(steps=0)
    path = save_checkpoint(tmp_path / "c.npz", model, LENET5)
    data = path.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file at all")
    for name in ("truncated.npz", "garbage.npz"):
        with pytest.raises(CheckpointError, match=f"{name} is not a readable lenet_xp file"):
            load_checkpoint(tmp_path / name)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(2))
    with pytest.raises(CheckpointError, match="no 'meta' entry"):
        load_checkpoint(tmp_path / "plain.npz")


def test_checkpoints_hold_no_pickles(tmp_path):
    model, optimizer = _trained_model()
    path = save_checkpoint(tmp_path / "c.npz", model, {**LENET5, "note": "x"}, optimizer)
    with np.load(path, allow_pickle=False) as archive:
        assert all(archive[key].dtype != object for key in archive.files)


def _npy(descr: str, shape: tuple, data: bytes = b"") -> bytes:
    """An .npy entry whose header declares ``descr`` and ``shape``, followed by ``data``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False,
                                                  "shape": shape})
    return buffer.getvalue() + data


def _with_entries(source, target, **entries) -> None:
    """``target``: the archive ``source`` with ``entries`` (name -> .npy bytes) added or replaced."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename[:-len(".npy")] not in entries:
                new.writestr(info, old.read(info))
        for name, data in entries.items():
            new.writestr(f"{name}.npy", data)


def _saved(tmp_path):
    model, optimizer = _trained_model(steps=1)
    return save_checkpoint(tmp_path / "good.npz", model, LENET5, optimizer)


def _refused(path) -> str:
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as refused:
            load_checkpoint(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6, f"{peak / 1e6:.0f} MB allocated before refusing"
    message = str(refused.value)
    assert "pickle" not in message.replace(str(path), ""), "never suggest unsafe loading"
    return message


@pytest.mark.parametrize("entry, declared, message", [
    ("param/C1.weight", _npy("<f4", (1 << 30,)), "param/C1.weight is declared (1073741824,)"
                                                     " float32, the lenet5 model has (6, 1, 5, 5)"),
    ("optim/0/m", _npy("<f4", (1 << 16, 1 << 14)), "optim/0/m is declared (65536, 16384) float32, "
                                                   "the lenet5 model has (6, 1, 5, 5)"),
    ("best/C1.weight", _npy("<f8", (6, 1, 5, 5, 1000)), "best/C1.weight is declared"),
    ("param/extra", _npy("<f4", (3,), bytes(12)), "param/extra is not an entry of the lenet5 model"),
    ("optim/99/m", _npy("<f4", (3,), bytes(12)), "optim/99/m is not an entry of the lenet5 model"),
    ("meta", _npy("<U100000000", ()), "its meta entry is declared 400,000,000 bytes"),
    ("param/C1.bias", _npy("<i8", (6,), bytes(48)), "param/C1.bias is declared (6,) int64"),
], ids=["huge-weight", "huge-moments", "best-shape", "unknown-param", "unknown-optim",
        "huge-meta", "integer-weights"])
def test_declared_shapes_are_checked_against_the_model_before_reading(tmp_path, entry, declared,
                                                                        message):
    """A 1 KB file may declare a 4 GB entry: the header is read, the data never is."""
    _with_entries(_saved(tmp_path), tmp_path / "hostile.npz", **{entry: declared})
    assert (tmp_path / "hostile.npz").stat().st_size < 1_000_000
    assert message in _refused(tmp_path / "hostile.npz")


def test_random_bytes_and_object_arrays_are_not_lenet_xp_files(tmp_path):
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(0).bytes(5000))
    assert "random.npz is not a readable lenet_xp file" in _refused(tmp_path / "random.npz")
    np.savez(tmp_path / "objects.npz", meta=np.array(json.dumps(LENET5)),
             weights=np.array([{"a": 1}, None], dtype=object))
    assert "objects.npz is not a readable lenet_xp file: its entry weights holds Python " \
           "objects" in _refused(tmp_path / "objects.npz")
    with zipfile.ZipFile(tmp_path / "foreign.npz", "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "foreign.npz is not a readable lenet_xp file: its entry readme.txt is not an " \
           "array" in _refused(tmp_path / "foreign.npz")


def test_non_finite_weights_are_refused_naming_the_arrays(tmp_path):
    model, optimizer = _trained_model(steps=1)
    model.parameters()["C1.weight"].data[0, 0, 0, 0] = float("nan")
    model.parameters()["OUT.bias"].data[:2] = float("inf")
    path = save_checkpoint(tmp_path / "nan.npz", model, LENET5, optimizer)
    message = _refused(path)
    assert "holds non-finite numbers (NaN or infinity) in param/C1.weight (1 of 150), " \
           "param/OUT.bias (2 of 10)" in message


def test_a_checkpoint_of_a_network_built_by_hand_has_its_size_capped(tmp_path):
    """Without a zoo model to compare with, the declared total is what is checked."""
    from lenet_xp.runs import checkpoint

    model, _ = _trained_model(steps=0)
    path = save_checkpoint(tmp_path / "own.npz", model, {"note": "built by hand"})
    assert load_checkpoint(path).params.keys() == model.state_dict().keys()
    _with_entries(path, tmp_path / "big.npz", **{"param/C1.weight": _npy("<f4", (1 << 29,))})
    assert (f"bytes of arrays, more than the {checkpoint.MAX_UNNAMED_BYTES:,} read from a "
            "checkpoint that names no model") in _refused(tmp_path / "big.npz")


@pytest.mark.parametrize("entry", ["param/C1.weight", "meta"])
def test_an_entry_longer_than_its_header_says_is_refused_before_it_is_inflated(tmp_path, entry):
    """A zip bomb: 64 MiB of zeros deflated after an entry's correct data (the real size, 2
    GiB through every script: tests/test_hostile_memory.py). The zip's directory gives the
    entry's size, which must be the header's; nothing of the excess is inflated."""
    from hostile_files import MIB, zip_bomb

    bomb = zip_bomb(_saved(tmp_path), tmp_path / "bomb.npz", entry, 64 * MIB)
    assert bomb.stat().st_size < 2 * MIB
    message = _refused(bomb)
    assert f"bomb.npz is not a readable lenet_xp file: its entry {entry} holds " in message
    assert message.endswith("the file is damaged, or built to fill the memory of whoever "
                            "reads it (a zip bomb)")
