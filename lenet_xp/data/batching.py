"""A dataset that lives on the training device, and mini-batches drawn from it.

The whole dataset is copied to the device once; an epoch then moves only one permutation
(N int64) across, and each batch is a gather (``xp.take``) or a slice on the device.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np

from lenet_xp.backend import Backend, Random
from lenet_xp.data.preprocess import PixelStats


@dataclasses.dataclass(frozen=True)
class DeviceDataset:
    """Images and labels on one backend.

    Attributes:
        images: (N, 1, H, W) float array on ``backend``.
        labels: (N,) int64 array on ``backend``.
        backend: where both live.
        pixel_stats: the training pixels' mean and std the images were normalised with
            (``standard`` normalisation; None otherwise), to prepare new images the same way.
    """

    images: Any
    labels: Any
    backend: Backend
    pixel_stats: PixelStats | None = None

    @classmethod
    def from_host(cls, backend: Backend, images: np.ndarray, labels: np.ndarray,
                  dtype: str = "float32", pixel_stats: PixelStats | None = None) -> DeviceDataset:
        """Copy host arrays to ``backend``: images (N, H, W) or (N, 1, H, W), labels (N,)."""
        if images.ndim == 3:
            images = images[:, np.newaxis, :, :]
        if images.ndim != 4 or images.shape[1] != 1:
            raise ValueError(f"images must be (N, H, W) or (N, 1, H, W), got shape {images.shape}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must be ({images.shape[0]},) to match the images, got {labels.shape}")
        return cls(
            images=backend.asarray(images, dtype=backend.dtype(dtype)),
            labels=backend.asarray(labels.astype(np.int64), dtype=backend.xp.int64),
            backend=backend,
            pixel_stats=pixel_stats,
        )

    def __len__(self) -> int:
        return int(self.labels.shape[0])


class Batches:
    """One epoch of ``(x, y)`` mini-batches; see :func:`iterate_batches`.

    Each ``iter()`` is one epoch: with ``shuffle`` it draws a fresh permutation.
    """

    def __init__(self, dataset: DeviceDataset, batch_size: int, shuffle: bool,
                 random: Random | None, drop_last: bool):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if shuffle and random is None:
            raise ValueError("shuffle=True needs a seeded Random: pass random=Random(seed)")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random = random
        self.drop_last = drop_last

    def __len__(self) -> int:
        """Number of batches: floor(N / B) with ``drop_last``, else ceil(N / B)."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        images, labels = self.dataset.images, self.dataset.labels
        n = len(self.dataset)
        # stops clipped to n: the standard leaves out-of-bounds slice stops unspecified
        bounds = [(start, min(start + self.batch_size, n))
                  for start in range(0, len(self) * self.batch_size, self.batch_size)]
        if not self.shuffle:
            for start, stop in bounds:
                yield images[start:stop, ...], labels[start:stop]
            return
        assert self.random is not None  # the constructor refuses shuffle without one
        backend = self.dataset.backend
        xp = backend.xp
        order = backend.asarray(self.random.permutation(n), dtype=xp.int64)
        for start, stop in bounds:
            idx = order[start:stop]
            yield xp.take(images, idx, axis=0), xp.take(labels, idx, axis=0)


def iterate_batches(dataset: DeviceDataset, batch_size: int, shuffle: bool,
                    random: Random | None = None, drop_last: bool = False) -> Batches:
    """Mini-batches over one epoch: ``for x, y in iterate_batches(...)``.

    Yields x: (B, 1, H, W) and y: (B,) on the dataset's device; the last batch is smaller
    (N mod B) unless ``drop_last``. Without shuffle, batches are slices in stored order;
    with shuffle, ``random.permutation(N)`` fixes the order, so the same seed gives the
    same batches. Every example appears exactly once per epoch (at most once with
    ``drop_last``). ``len()`` is the number of batches.
    """
    return Batches(dataset, batch_size, shuffle, random, drop_last)
