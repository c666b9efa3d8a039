"""Device strings, transfers, seeded randomness and the errors for a missing GPU."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from lenet_xp.backend import DeviceError, Random, backend_of, get_backend, to_numpy


def test_device_strings():
    assert get_backend("cpu").name == "cpu"
    assert get_backend(" CPU ").name == "cpu"
    strict = get_backend("array_api_strict")
    assert strict.xp.__name__ == "array_api_strict"
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        get_backend("tpu")
    with pytest.raises(DeviceError, match="GPU index must be a number"):
        get_backend("cuda:x")


def test_a_simulated_accelerator_device():
    """array_api_strict's device1 behaves like a GPU where bugs hide: no implicit numpy."""
    device1 = get_backend("array_api_strict:device1")
    assert device1.name == "array_api_strict:device1" and not device1.is_cuda
    x = device1.asarray(np.arange(6, dtype=np.float32))
    assert backend_of(x).name == "array_api_strict:device1"
    np.testing.assert_array_equal(to_numpy(x), np.arange(6, dtype=np.float32))
    with pytest.raises(RuntimeError, match="Can't convert array on the"):
        np.asarray(x)
    with pytest.raises(ValueError, match="different devices"):
        x + get_backend("array_api_strict").asarray(np.ones(6, dtype=np.float32))
    assert get_backend("array_api_strict:CPU_DEVICE").name == "array_api_strict"
    with pytest.raises(DeviceError, match="array_api_strict's devices are cpu_device, device1, device2"):
        get_backend("array_api_strict:device9")


def test_round_trip_and_backend_of(backend_name):
    backend = get_backend(backend_name)
    host = np.arange(12, dtype=np.float32).reshape(3, 4)
    on_device = backend.asarray(host)
    assert backend_of(on_device).name == backend.name
    np.testing.assert_array_equal(to_numpy(on_device), host)
    assert to_numpy(backend.asarray(host, dtype=backend.dtype("float64"))).dtype == np.float64
    with pytest.raises(ValueError, match="unsupported dtype 'float16'"):
        backend.dtype("float16")


def test_same_seed_gives_the_same_numbers_on_every_backend(backend_name):
    backend = get_backend(backend_name)
    for dtype in ("float32", "float64"):
        reference = to_numpy(Random(7).normal(get_backend("cpu"), (5, 4), 0.1, dtype))
        np.testing.assert_array_equal(to_numpy(Random(7).normal(backend, (5, 4), 0.1, dtype)), reference)
    np.testing.assert_array_equal(
        to_numpy(Random(7).uniform(backend, (3,), -1, 1)),
        to_numpy(Random(7).uniform(get_backend("cpu"), (3,), -1, 1)))
    assert not np.array_equal(to_numpy(Random(8).normal(backend, (5, 4))), to_numpy(Random(7).normal(backend, (5, 4))))


def test_uniform_like_stays_on_the_arrays_device(backend_name):
    backend = get_backend(backend_name)
    x = backend.asarray(np.zeros((100, 10), dtype=np.float32))
    u = Random(0).uniform_like(x)
    assert backend_of(u).name == backend.name and u.dtype == x.dtype and u.shape == x.shape
    values = to_numpy(u)
    assert values.min() >= 0 and values.max() < 1 and 0.45 < values.mean() < 0.55


def test_random_state_round_trip():
    random = Random(3)
    state = random.state()
    first = random.permutation(10)
    random.set_state(state)
    np.testing.assert_array_equal(random.permutation(10), first)


def test_start_epoch_leaves_the_host_stream_alone_without_spawned_streams():
    plain, restarted = Random(5), Random(5)
    restarted.start_epoch()
    np.testing.assert_array_equal(restarted.permutation(20), plain.permutation(20))


def test_spawned_streams_follow_from_the_parents_state():
    """A checkpoint keeps the parent's state only: after start_epoch() the spawned streams
    depend on nothing else, and every epoch gives them new numbers."""
    parent, other = Random(1), Random(99)
    child, other_child = parent.spawn(), other.spawn()  # seeded differently at first
    other.set_state(parent.state())
    parent.start_epoch()
    other.start_epoch()
    first = child.permutation(10)
    np.testing.assert_array_equal(other_child.permutation(10), first)
    parent.start_epoch()
    assert not np.array_equal(child.permutation(10), first)


def test_cuda_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(DeviceError) as error:
        get_backend("cuda")
    message = str(error.value)
    assert 'pip install "lenet_xp[cuda12]"' in message and "--device cpu" in message


def test_cuda_without_a_gpu_says_so(monkeypatch):
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(is_available=lambda: False)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(DeviceError, match="sees no usable NVIDIA GPU.*--device cpu"):
        get_backend("cuda:0")


@pytest.mark.gpu
def test_cuda_index_out_of_range():
    with pytest.raises(DeviceError, match="GPU"):
        get_backend("cuda:99")
