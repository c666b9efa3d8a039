"""Checkpoints cross backends: a model trained on any backend loads and predicts the same,
to float rounding, on every other (numpy, array_api_strict's device1, PyTorch, GPUs: the
devices of tests/backends.py)."""

from __future__ import annotations

import numpy as np
import pytest

import lenet_xp
from lenet_xp.data import load_mnist
from lenet_xp.runs.checkpoint import load_checkpoint

from backends import device_params
from mnist_files import learnable_arrays, train_quietly, write_fake_mnist


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist")
    write_fake_mnist(folder, learnable_arrays(n_train=300, n_test=100))
    return folder


@pytest.fixture(scope="module")
def trained_on(data_dir, tmp_path_factory):
    """``trained_on(device)``: the run folder of a lenet5 trained one epoch there (once)."""
    runs = {}

    def train(device):
        if device not in runs:
            out = tmp_path_factory.mktemp(device.replace(":", "_"))
            train_quietly(data_dir, out, {"epochs": 1}, val_size=50, device=device)
            runs[device] = out
        return runs[device]
    return train


@pytest.mark.parametrize("load_on", device_params("end_to_end"))
@pytest.mark.parametrize("trained", device_params("end_to_end"))
def test_a_model_trained_anywhere_predicts_the_same_everywhere(trained_on, data_dir, trained,
                                                                load_on):
    run_dir = trained_on(trained)
    saved = load_checkpoint(run_dir / "model.npz")
    assert saved.meta["config"]["device"] == trained
    assert all(isinstance(value, np.ndarray) for value in saved.params.values())
    digits = load_mnist(data_dir, verify=False, download=False).test_images
    here = lenet_xp.load_model(run_dir / "model.npz", device=trained).predict(digits)
    there = lenet_xp.load_model(run_dir / "model.npz", device=load_on).predict(digits)
    np.testing.assert_allclose(there.scores, here.scores, rtol=1e-4, atol=1e-6)
    close_calls = np.sort(here.scores, axis=1)[:, -1] - np.sort(here.scores, axis=1)[:, -2] < 1e-4
    np.testing.assert_array_equal(there.labels[~close_calls], here.labels[~close_calls])
    accuracy = np.mean(here.labels == load_mnist(data_dir, verify=False,
                                                 download=False).test_labels)
    assert accuracy == pytest.approx(saved.meta["test_accuracy"], abs=1e-9), "the run's figure"
