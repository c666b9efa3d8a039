"""A tiny learnable dataset for training tests: bars across noise."""

from __future__ import annotations

import numpy as np

from lenet_xp.data import DeviceDataset


def bars(backend, n: int = 256, size: int = 8, seed: int = 0) -> DeviceDataset:
    """n noisy (1, size, size) images on ``backend``: class 0 holds a bright horizontal bar,
    class 1 a vertical one, each at a random row or column away from the border."""
    rng = np.random.default_rng(seed)
    images = rng.normal(0, 0.3, size=(n, 1, size, size)).astype(np.float32)
    labels = rng.integers(0, 2, size=n)
    where = rng.integers(1, size - 1, size=n)
    for k in range(n):
        if labels[k] == 0:
            images[k, 0, where[k], :] += 2.0
        else:
            images[k, 0, :, where[k]] += 2.0
    return DeviceDataset.from_host(backend, images, labels)
