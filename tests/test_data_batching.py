"""DeviceDataset and iterate_batches on every backend: order, coverage, seeding, sizes."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.data.batching import DeviceDataset, iterate_batches


@pytest.fixture
def backend(backend_name):
    return get_backend(backend_name)


def _dataset(backend, n=10, size=3):
    """Image i is filled with the value i and has label i, so batches show which examples they hold."""
    images = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n, size, size))
    return DeviceDataset.from_host(backend, images, np.arange(n, dtype=np.uint8))


def _epoch(batches):
    """[(example ids from the images, example ids from the labels), ...] for one epoch."""
    out = []
    for x, y in batches:
        x, y = to_numpy(x), to_numpy(y)
        out.append((x[:, 0, 0, 0].astype(np.int64), y))
    return out


def test_from_host_shapes_and_dtypes(backend):
    data = _dataset(backend, n=4)
    xp = backend.xp
    assert data.images.shape == (4, 1, 3, 3) and data.images.dtype == xp.float32
    assert data.labels.shape == (4,) and data.labels.dtype == xp.int64
    assert len(data) == 4


def test_from_host_rejects_bad_shapes(backend):
    with pytest.raises(ValueError, match=r"images must be \(N, H, W\) or \(N, 1, H, W\)"):
        DeviceDataset.from_host(backend, np.zeros((2, 3, 3, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"labels must be \(2,\)"):
        DeviceDataset.from_host(backend, np.zeros((2, 3, 3)), np.zeros(3))


def test_no_shuffle_keeps_stored_order_with_partial_last_batch(backend):
    batches = iterate_batches(_dataset(backend), batch_size=4, shuffle=False)
    epoch = _epoch(batches)
    assert len(batches) == 3
    assert [len(ids) for ids, _ in epoch] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([ids for ids, _ in epoch]), np.arange(10))
    for ids, labels in epoch:
        np.testing.assert_array_equal(ids, labels)


def test_shuffle_covers_every_example_once(backend):
    epoch = _epoch(iterate_batches(_dataset(backend, n=23), 5, shuffle=True, random=Random(0)))
    assert [len(ids) for ids, _ in epoch] == [5, 5, 5, 5, 3]
    order = np.concatenate([ids for ids, _ in epoch])
    np.testing.assert_array_equal(np.sort(order), np.arange(23))
    assert not np.array_equal(order, np.arange(23))
    for ids, labels in epoch:
        np.testing.assert_array_equal(ids, labels)


def test_shuffle_is_seeded(backend):
    data = _dataset(backend, n=50)

    def order(seed):
        return np.concatenate([ids for ids, _ in _epoch(iterate_batches(data, 8, True, Random(seed)))])

    np.testing.assert_array_equal(order(1), order(1))
    assert not np.array_equal(order(1), order(2))


def test_each_epoch_draws_a_new_order(backend):
    batches = iterate_batches(_dataset(backend, n=50), 8, shuffle=True, random=Random(0))
    first, second = (np.concatenate([ids for ids, _ in _epoch(batches)]) for _ in range(2))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.sort(second), np.arange(50))


@pytest.mark.parametrize("shuffle", [False, True])
def test_drop_last(backend, shuffle):
    batches = iterate_batches(_dataset(backend), 4, shuffle=shuffle, random=Random(0), drop_last=True)
    epoch = _epoch(batches)
    assert len(batches) == 2 and [len(ids) for ids, _ in epoch] == [4, 4]
    seen = np.concatenate([ids for ids, _ in epoch])
    assert len(np.unique(seen)) == 8


def test_batch_larger_than_dataset(backend):
    data = _dataset(backend, n=3)
    assert [len(ids) for ids, _ in _epoch(iterate_batches(data, 8, shuffle=False))] == [3]
    assert len(iterate_batches(data, 8, shuffle=False, drop_last=True)) == 0
    assert _epoch(iterate_batches(data, 8, shuffle=False, drop_last=True)) == []


def test_bad_arguments(backend):
    data = _dataset(backend)
    with pytest.raises(ValueError, match="random=Random"):
        iterate_batches(data, 4, shuffle=True)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        iterate_batches(data, 0, shuffle=False)
