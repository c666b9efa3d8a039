"""No per-batch host syncs: during an epoch on the simulated accelerator
(array_api_strict's device1) nothing is read back to the host per batch, except by the
progress bar, at its refresh rate. On a GPU every such read would wait for the device's
queue to drain."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend
from lenet_xp.data import DeviceDataset, random_shift
from lenet_xp.data.augment import Distortion
from lenet_xp.layers import Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential
from lenet_xp.losses import SoftmaxCrossEntropy
from lenet_xp.optim import Adam
from lenet_xp.training import extensions
from lenet_xp.training.extensions import ProgressBar, Validation
from lenet_xp.training.step import TrainingStep
from lenet_xp.training.trainer import Feed, Trainer

DEVICE = "array_api_strict:device1"
#: every way an array_api_strict array's values reach the host
READS = ("__float__", "__int__", "__bool__", "__index__", "__complex__", "__array__",
         "__dlpack__", "to_device")


@pytest.fixture
def host_reads(monkeypatch) -> list[str]:
    """Every read of a device1 array's values by the host, by method name, as it happens."""
    import array_api_strict

    array_type = type(array_api_strict.asarray(0.0))
    device1 = array_api_strict.Device("device1")
    reads = []

    def counted(name, method):
        def read(self, *args, **kwargs):
            if self.device == device1:
                reads.append(name)
            return method(self, *args, **kwargs)
        return read

    for name in READS:
        monkeypatch.setattr(array_type, name, counted(name, getattr(array_type, name)))
    return reads


def _epoch(batches: int, progress: bool) -> None:
    """One epoch of ``batches`` batches of 8 on device1, with what makes a batch: shifts,
    affine and elastic distortions, dropout, Adam; then the validation set is scored."""
    backend = get_backend(DEVICE)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(8 * batches, 1, 12, 12)).astype(np.float32)
    train = DeviceDataset.from_host(backend, images, rng.integers(0, 3, size=8 * batches))
    val = DeviceDataset.from_host(backend, images[:16], rng.integers(0, 3, size=16))
    random = Random(0)
    model = Sequential(Conv2d(1, 4, 3, random=random), ReLU(), MaxPool2d(2), Flatten(),
                       Dropout(0.5, random=random.spawn()), Linear(100, 3, random=random)).to(backend)
    distortion = Distortion("affine+elastic", alpha=8.0, sigma=2.0)
    loss = SoftmaxCrossEntropy()
    feed = Feed(train, 8, random, lambda x: distortion(random_shift(x, 1, random), random))
    bar = [ProgressBar()] if progress else []
    Trainer(TrainingStep(model, loss), Adam(model.parameters()), feed, lambda epoch: 1e-3,
            [*bar, Validation(val)]).run(1)


@pytest.mark.parametrize("batches", [4, 12])
def test_an_epoch_reads_the_device_at_its_end_only(host_reads, monkeypatch, batches):
    """Without a progress refresh due: the training loss and accuracy, then the validation
    loss and accuracy: four reads, however many batches."""
    monkeypatch.setattr(extensions, "PROGRESS_REFRESH_S", float("inf"))
    _epoch(batches, progress=True)
    assert host_reads == ["__float__", "__int__", "__float__", "__int__"]


def test_the_progress_bar_reads_at_its_refresh_rate(host_reads, monkeypatch):
    """Refreshed at every batch (interval 0), the bar reads the running loss and accuracy
    once a batch: the count above would see any other read."""
    monkeypatch.setattr(extensions, "PROGRESS_REFRESH_S", 0.0)
    _epoch(6, progress=True)
    assert len(host_reads) == 4 + 2 * 6
