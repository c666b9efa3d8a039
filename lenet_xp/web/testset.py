"""The labelled test digits the Evaluate page measures models on, read once, when first asked."""

from __future__ import annotations

import threading

import numpy as np

from ..data import load_mnist


class TestSet:
    """The test split of the MNIST-layout files in ``data_dir`` (None: no test set, and the
    Evaluate page says how to give one). Loaded on first use, never downloaded; the training
    split is dropped at once. ``verify``: check MNIST's checksums (False for other
    datasets in MNIST's layout)."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, data_dir=None, verify: bool = True):
        self.data_dir, self.verify = data_dir, verify
        self._lock = threading.Lock()
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def available(self) -> bool:
        return self.data_dir is not None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(digits (N, 28, 28) uint8, labels (N,) int64). Raises DataError (missing or bad
        files) or LookupError (no ``data_dir``)."""
        if self.data_dir is None:
            raise LookupError("no test set: start the server with --data-dir FOLDER (the "
                              "folder of the MNIST files) to evaluate models")
        with self._lock:
            if self._arrays is None:
                splits = load_mnist(self.data_dir, verify=self.verify, download=False)
                self._arrays = (splits.test_images, splits.test_labels.astype(np.int64))
            return self._arrays
