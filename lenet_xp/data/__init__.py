"""Data: IDX files, MNIST, preprocessing and device-resident mini-batches.

``prepare_mnist`` does it all: load (and check) the files, split off a validation set,
binarise / pad / normalise on the host once, and copy each split to the training device.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from lenet_xp.backend import Backend
from lenet_xp.data.augment import random_shift
from lenet_xp.data.batching import Batches, DeviceDataset, iterate_batches
from lenet_xp.data.idx import IdxError, decode_idx, read_idx, write_idx
from lenet_xp.data.mnist import (
    MNIST_FILES,
    MNIST_SHA256,
    DataError,
    MnistSplits,
    load_mnist,
    resolve_data_dir,
)
from lenet_xp.data.preprocess import (
    NORMALISATIONS,
    PixelStats,
    binarise,
    normalisation_affine,
    normalise,
    pad_images,
    pixel_stats,
    validation_split,
)

__all__ = [
    "MNIST_FILES", "MNIST_SHA256", "NORMALISATIONS",
    "Batches", "DataError", "DeviceDataset", "IdxError", "MnistSplits", "PixelStats",
    "binarise", "decode_idx", "iterate_batches", "load_mnist", "model_input",
    "normalisation_affine", "normalise", "pad_images", "pixel_stats", "prepare_mnist",
    "random_shift", "read_idx", "resolve_data_dir", "validation_split", "write_idx",
]


def prepare_mnist(
    backend: Backend,
    data_dir: str | os.PathLike | None = None,
    val_size: int = 5000,
    normalisation: str = "standard",
    pad_to: int | None = 32,
    binarise_threshold: int | None = None,
    seed: int = 0,
    dtype: str = "float32",
    verify: bool | Mapping[str, str] = True,
    download: bool = True,
    classes: int | None = None,
) -> tuple[DeviceDataset, DeviceDataset | None, DeviceDataset]:
    """MNIST as (train, val, test) :class:`DeviceDataset` s on ``backend``.

    Steps, on the host: :func:`load_mnist` ``(data_dir, verify, download, classes)``; split
    ``val_size`` training images off at random (:func:`validation_split` with ``seed``;
    val is None when ``val_size`` is 0); binarise at ``binarise_threshold`` if given; pad to
    ``pad_to`` x ``pad_to`` with background 0 (None: keep 28x28); normalise with
    ``normalisation`` (:data:`NORMALISATIONS`), ``standard`` using the mean and std of the
    padded training split for all three (kept as each dataset's ``pixel_stats``). Then each
    split is copied to the device once: images (N, 1, pad_to, pad_to) ``dtype``, labels (N,)
    int64.
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {normalisation!r}: use one of {', '.join(NORMALISATIONS)}")
    splits = load_mnist(data_dir, verify=verify, download=download, classes=classes)
    train_idx, val_idx = validation_split(splits.train_labels.shape[0], val_size, seed)
    host = {
        "train": (splits.train_images[train_idx], splits.train_labels[train_idx]),
        "test": (splits.test_images, splits.test_labels),
    }
    if val_size > 0:
        host["val"] = (splits.train_images[val_idx], splits.train_labels[val_idx])
    if binarise_threshold is not None:
        host = {name: (binarise(images, binarise_threshold), labels)
                for name, (images, labels) in host.items()}
    host = {name: (_padded(images, pad_to), labels) for name, (images, labels) in host.items()}
    stats = pixel_stats(host["train"][0]) if normalisation == "standard" else None
    datasets = {
        name: DeviceDataset.from_host(backend, normalise(images, normalisation, stats, dtype),
                                      labels, dtype, pixel_stats=stats)
        for name, (images, labels) in host.items()
    }
    return datasets["train"], datasets.get("val"), datasets["test"]


def model_input(images: np.ndarray, normalisation: str, pad_to: int | None,
                stats: PixelStats | None = None, dtype: str = "float32") -> np.ndarray:
    """Raw uint8 digits (N, H, W) -> float (N, H', W') as a model was trained on them: padded
    to ``pad_to`` x ``pad_to`` (None: kept), then normalised (:func:`normalise`). The same
    steps as :func:`prepare_mnist`, for new images (a trained model's checkpoint records
    ``normalisation``, ``input_size`` and ``stats``)."""
    return normalise(_padded(images, pad_to), normalisation, stats, dtype)


def _padded(images: np.ndarray, pad_to: int | None) -> np.ndarray:
    return images if pad_to is None else pad_images(images, pad_to)
