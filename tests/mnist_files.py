"""Small MNIST-format datasets that tests write themselves (the real files are never needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lenet_xp.data import MNIST_FILES, write_idx
from lenet_xp.training import RunConfig, run


def fake_arrays(n_train=30, n_test=7, seed=0) -> dict[str, np.ndarray]:
    """Small random arrays in MNIST's layout, keyed by MNIST file name."""
    rng = np.random.default_rng(seed)
    return dict(zip(MNIST_FILES, (
        rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        np.arange(n_train, dtype=np.uint8) % 10,
        rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        np.arange(n_test, dtype=np.uint8) % 10,
    )))


def learnable_arrays(n_train=600, n_test=200, seed=0) -> dict[str, np.ndarray]:
    """MNIST-layout arrays a network can learn in an epoch or two: digit k is a bright 6x6
    block at the k-th place of a 3x4 grid inside the central 20x20 box, over faint noise."""
    rng = np.random.default_rng(seed)

    def draw(n):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
        for index, label in enumerate(labels):
            row, col = 4 + 7 * (label // 4), 4 + 5 * (label % 4)
            images[index, row:row + 6, col:col + 6] = rng.integers(200, 256)
        return images, labels

    train_images, train_labels = draw(n_train)
    test_images, test_labels = draw(n_test)
    return dict(zip(MNIST_FILES, (train_images, train_labels, test_images, test_labels)))


def write_fake_mnist(folder: Path, arrays=None, gz=(True, False, True, False)) -> dict[str, str]:
    """Write MNIST-format files (some .gz, some raw) into ``folder``; returns their sha256 sums."""
    arrays = fake_arrays() if arrays is None else arrays
    folder.mkdir(parents=True, exist_ok=True)
    return {name: write_idx(folder / (name + (".gz" if packed else "")), arrays[name])
            for (name, packed) in zip(MNIST_FILES, gz)}


def train_quietly(data_dir, out, recipe: dict, *, model: str = "lenet5", val_size: int = 100,
                  **config):
    """Train ``model`` into the folder ``out`` on the MNIST-format files in ``data_dir`` (no
    checksums, no download, ``val_size`` validation images), printing and drawing nothing;
    ``recipe`` changes the model's recipe and ``config`` sets any other RunConfig setting
    (by its flat key).
    Returns the run's :class:`~lenet_xp.training.experiment.RunResult`."""
    flat = {"model": model, "data_dir": str(data_dir), "verify": False, "download": False,
            "val_size": val_size, "out": str(out), "progress": False, "plot": False, **config}
    return run(RunConfig.from_dict(flat, recipe), log=lambda line: None)
