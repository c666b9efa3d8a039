"""The per-batch path never makes a GPU wait: no operation whose output shape depends on the
data (boolean-mask indexing, nonzero, unique, masked_select, array-api-compat's generic clip),
no read of a value back to the host, no host data copied to the device, in the training step
of every zoo model with its recipe, every distortion kind, evaluation and prediction.

Each is watched two ways: on PyTorch's CPU tensors told to take the GPU's path, by a
TorchDispatchMode that sees every aten operation (lenet_xp.tools.bench.launches) and by
recording torch's own conversions to numpy; and on array_api_strict's device1, the simulated
accelerator, by recording its arrays' conversions to the host, its boolean-mask indexing and
its data-dependent functions (not its copies from the host: array_api_strict draws its
per-batch random numbers on the host by design, where a GPU library draws them on the
device, so copies are watched on torch). Each scenario runs twice, with more batches the second time:
what happens once (the reads at an epoch's end, the permutation and the staged affine maps
copied at its start) is the same in both, and a per-batch event would add up."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend
from lenet_xp.data import DeviceDataset
from lenet_xp.data.augment import DISTORTION_KINDS, Distortion
from lenet_xp.models import MODELS, get_model
from lenet_xp.models.recipe import make_augmentation, make_average, make_optimizer
from lenet_xp.inference import TrainedModel
from lenet_xp.training.extensions import MovingAverage
from lenet_xp.training.scoring import evaluate as score_dataset
from lenet_xp.training.step import TrainingStep
from lenet_xp.training.trainer import Feed, Trainer

from backends import unavailable

DEVICES = [pytest.param("torch:cpu", marks=[pytest.mark.torch, pytest.mark.skipif(
               unavailable("torch:cpu") is not None, reason=str(unavailable("torch:cpu")))]),
           "array_api_strict:device1"]
#: how many batches the short and the long run of each scenario take
SHORT, LONG = 2, 4
#: images a training batch, at most (the zoo's batches are 1 to 128: the path is the same)
BATCH = 8


@contextlib.contextmanager
def _watch_torch(monkeypatch):
    """Record on torch tensors: data-dependent operations, host reads and host copies (the
    dispatch mode), conversions to numpy, and calls of the namespace's clip."""
    import array_api_compat.torch
    import torch

    from lenet_xp.tools.bench.launches import operation_counter

    events = []
    for name in ("numpy", "tolist", "__array__"):
        method = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, _recording(events, f"read {name}", method))
    monkeypatch.setattr(array_api_compat.torch, "clip",
                        _recording(events, "clip", array_api_compat.torch.clip))
    counter = operation_counter(torch)
    with counter:
        yield events
    tally = counter.tally
    events += ([f"data-dependent {name}" for name in tally.data_dependent]
               + [f"read {name}" for name in tally.host_reads]
               + [f"copy {name}" for name in tally.host_copies])


@contextlib.contextmanager
def _watch_strict(monkeypatch):
    """Record on array_api_strict's device1: every conversion of an array's values to the
    host, boolean-mask indexing, and the calls of the namespace's data-dependent functions
    and clip."""
    import array_api_strict

    events = []
    device1 = array_api_strict.Device("device1")
    array_type = type(array_api_strict.asarray(0.0))
    for name in ("__float__", "__int__", "__bool__", "__index__", "__complex__", "__array__",
                 "__dlpack__", "to_device"):
        method = getattr(array_type, name)
        monkeypatch.setattr(array_type, name, _recording(
            events, f"read {name}", method, when=lambda self, *a, **k: self.device == device1))

    def masked(self, key, *args):
        keys = key if isinstance(key, tuple) else (key,)
        return any(getattr(k, "dtype", None) == array_api_strict.bool for k in keys)

    for name in ("__getitem__", "__setitem__"):
        monkeypatch.setattr(array_type, name, _recording(
            events, f"data-dependent mask {name}", getattr(array_type, name), when=masked))
    for name in ("nonzero", "unique_all", "unique_counts", "unique_inverse", "unique_values"):
        monkeypatch.setattr(array_api_strict, name, _recording(
            events, f"data-dependent {name}", getattr(array_api_strict, name)))
    monkeypatch.setattr(array_api_strict, "clip",
                        _recording(events, "clip", array_api_strict.clip))
    yield events


def _recording(events, label, function, when=lambda *args, **kwargs: True):
    def recorded(*args, **kwargs):
        if when(*args, **kwargs):
            events.append(label)
        return function(*args, **kwargs)
    return recorded


def _watch(device, monkeypatch):
    return _watch_torch(monkeypatch) if device.startswith("torch") else _watch_strict(monkeypatch)


def _dataset(backend, spec, n):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(n, 1, spec.input_size, spec.input_size)).astype(np.float32)
    return DeviceDataset.from_host(backend, images, rng.integers(0, 10, size=n))


def _twice(device, monkeypatch, scenario) -> tuple[list, list]:
    """What ``scenario(batches)`` did to the host with SHORT and with LONG batches."""
    backend = get_backend(device)
    monkeypatch.setattr(backend, "launch_bound", True)  # the GPU's path
    seen = []
    for batches in (SHORT, LONG):
        scenario(batches)  # a first run makes the caches and the optimiser's state
        with monkeypatch.context() as patch, _watch(device, patch) as events:
            scenario(batches)
        seen.append(events)
    return seen[0], seen[1]


def _assert_per_batch_free(short, long):
    assert not [event for event in long if event.startswith(("data-dependent", "clip"))], long
    assert sorted(long) == sorted(short), f"{SHORT} batches: {short}; {LONG} batches: {long}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", sorted(MODELS))
def test_a_training_epoch_reads_and_copies_the_same_whatever_its_batches(device, model,
                                                                          monkeypatch):
    """The recipe's augmentation, step, optimiser and moving average, through the training
    loop's epoch (its loss and accuracy sums are read once, at the end)."""
    backend, spec = get_backend(device), get_model(model)
    recipe = spec.recipe
    batch = min(BATCH, recipe.batch_size)
    random = Random(0)
    net = spec.make(random).to(backend)
    loss = spec.loss()
    optimizer = make_optimizer(recipe, net.parameters(), random)
    average = make_average(recipe, net)
    augment = make_augmentation(recipe, random)
    data = _dataset(backend, spec, batch * LONG)
    optimizer.before_epoch(net, loss, data)

    def epoch(batches):
        part = DeviceDataset(data.images[:batch * batches, ...], data.labels[:batch * batches],
                             backend)
        random.start_epoch()
        extensions = [MovingAverage(average)] if average is not None else []
        Trainer(TrainingStep(net, loss), optimizer, Feed(part, batch, random, augment), None,
                extensions).train_epoch()

    _assert_per_batch_free(*_twice(device, monkeypatch, epoch))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", [kind for kind in DISTORTION_KINDS if kind != "none"])
def test_distorting_batches_reads_and_copies_nothing_per_batch(device, kind, monkeypatch):
    backend = get_backend(device)
    distortion = Distortion(kind, rotation=10.0)
    random = Random(0)
    images = _dataset(backend, get_model("lenet5"), BATCH).images

    def distort(batches):
        random.start_epoch()
        for _ in range(batches):
            distortion(images, random)

    _assert_per_batch_free(*_twice(device, monkeypatch, distort))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", ["lenet5", "lenet5_paper", "bn_cnn"])
def test_evaluation_and_prediction_read_once_whatever_their_batches(device, model, monkeypatch):
    """Evaluation sums on the device and reads at the end; prediction reads the labels and
    scores of all its batches at once. lenet5_paper: the RBF output and MAP loss; bn_cnn:
    batch normalisation in evaluation mode."""
    backend, spec = get_backend(device), get_model(model)
    net = spec.make(Random(0)).to(backend)
    loss = spec.loss()
    data = _dataset(backend, spec, BATCH * LONG)
    trained = TrainedModel(spec, net, backend, {"data": {"normalisation": spec.normalisation,
                                                         "input_size": spec.input_size}},
                           "float32", batch_size=BATCH)

    def evaluate(batches):
        score_dataset(net, loss, data, batch_size=len(data) // batches)

    def predict(batches):
        trained.batch_size = len(data) // batches
        trained.predictions(trained.outputs(data.images))

    _assert_per_batch_free(*_twice(device, monkeypatch, evaluate))
    _assert_per_batch_free(*_twice(device, monkeypatch, predict))
