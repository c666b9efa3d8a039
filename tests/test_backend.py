"""Device strings, transfers, seeded randomness and the errors for a missing GPU."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from lenet_xp.backend import (ALONE, DeviceError, Random, backend_of, get_backend, limit_cpu_threads,
                              to_numpy)

from backends import device_params, needs


def test_device_strings():
    assert get_backend("cpu").name == "cpu"
    assert get_backend(" CPU ").name == "cpu"
    strict = get_backend("array_api_strict")
    assert strict.xp.__name__ == "array_api_strict"
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        get_backend("tpu")
    with pytest.raises(DeviceError, match="GPU index must be a number"):
        get_backend("cuda:x")


@needs("array_api_strict:device1")
def test_a_simulated_accelerator_device():
    """array_api_strict's device1 behaves like a GPU where bugs hide: no implicit numpy."""
    device1 = get_backend("array_api_strict:device1")
    assert device1.name == "array_api_strict:device1" and not device1.is_gpu
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
    state = random.state_dict()
    first = random.permutation(10)
    random.load_state_dict(state)
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
    other.load_state_dict(parent.state_dict())
    parent.start_epoch()
    other.start_epoch()
    first = child.permutation(10)
    np.testing.assert_array_equal(other_child.permutation(10), first)
    parent.start_epoch()
    assert not np.array_equal(child.permutation(10), first)


@pytest.mark.parametrize("library, spec, needs, install", [
    ("cupy", "cuda", "needs CuPy", 'pip install "lenet_xp[cuda12]"'),
    ("torch", "torch:cuda:3", "needs PyTorch", 'pip install "lenet_xp[torch]"')])
def test_a_missing_library_says_how_to_install(monkeypatch, fresh_backends, library, spec, needs,
                                                install):
    monkeypatch.setitem(sys.modules, library, None)  # makes `import LIBRARY` raise ImportError
    with pytest.raises(DeviceError) as error:
        get_backend(spec)
    message = str(error.value)
    assert needs in message and install in message and "--device cpu" in message


def _no_driver():
    raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient for "
                       "CUDA runtime version")  # what CuPy 13's is_available() raises


@pytest.mark.parametrize("is_available", [lambda: False, _no_driver], ids=["cupy14", "cupy13"])
def test_cuda_without_a_gpu_says_so(monkeypatch, fresh_backends, is_available):
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(is_available=is_available)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(DeviceError, match="sees no usable NVIDIA GPU.*--device cpu"):
        get_backend("cuda:0")


def test_a_library_hidden_is_not_hidden_by_backends_made_before(monkeypatch, request):
    """Where CuPy works, the collection has already made ``cuda`` (tests/backends.py asks
    every device whether it can run): a test that hides CuPy must not get that backend back
    from the caches. The fixture ``fresh_backends`` gives it empty ones."""
    from lenet_xp import backend as backend_module

    made_at_collection = object()
    monkeypatch.setitem(backend_module._BY_SPEC, ("cuda", ALONE), made_at_collection)
    assert get_backend("cuda") is made_at_collection  # what a hiding test got on a GPU machine
    request.getfixturevalue("fresh_backends")
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(DeviceError, match="needs CuPy"):
        get_backend("cuda")


@pytest.mark.parametrize("device", [d for d in device_params("all") if "gpu" in
                                    {m.name for m in d.marks}])
def test_gpu_index_out_of_range(device):
    with pytest.raises(DeviceError, match=r"this machine has \d+ GPU\(s\)"):
        get_backend(f"{device}:99")


@needs("array_api_strict:device1")
def test_backend_of_is_looked_up_once_per_kind_of_array(monkeypatch):
    """backend_of runs several times per batch: after the first array of a kind and device it
    is a dictionary look-up, and it gives the very backend get_backend gives."""
    from lenet_xp import backend as backend_module

    device1 = get_backend("array_api_strict:device1")
    first = backend_of(device1.asarray(np.zeros(3)))
    calls = []
    monkeypatch.setattr(backend_module, "_device_string", lambda x: calls.append(x) or "cpu")
    assert all(backend_of(device1.asarray(np.ones(2))) is first for _ in range(5))
    assert first is device1 and calls == []


@pytest.mark.parametrize("spec, name", [("torch", "torch:cpu"), (" Torch:CPU ", "torch:cpu")])
@pytest.mark.torch
def test_torch_device_strings(spec, name):
    backend = get_backend(spec)
    assert backend.name == name and backend.cpu_threads and not backend.is_gpu
    assert backend is get_backend("torch:cpu")
    x = backend.asarray(np.arange(4, dtype=np.float32))
    assert not x.requires_grad, "lenet_xp computes its own gradients: tensors never require grad"


@pytest.mark.torch
@pytest.mark.parametrize("spec, message", [
    ("torch:mps", "sees no Apple GPU"), ("torch:cuda", "sees no CUDA or ROCm GPU"),
    ("torch:xpu:1", "sees no Intel GPU"), ("torch:tpu", "PyTorch's devices are torch:cpu"),
    ("torch:cuda:x", "the GPU index must be a number"), ("torch:mps:1", "use torch:mps")])
def test_torch_devices_missing_here_say_so(spec, message):
    import torch

    if spec.startswith("torch:mps") and torch.backends.mps.is_available():
        pytest.skip("this machine has an Apple GPU")
    if spec == "torch:cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(DeviceError, match=message) as error:
        get_backend(spec)
    assert "\n" not in str(error.value)


@pytest.mark.torch
def test_mps_computes_in_float32_only():
    """Apple's GPUs have no float64: asking for it is one clear error (made without a Mac:
    the torch backend's own rule)."""
    import torch

    from lenet_xp.backends.torch_backend import TorchBackend

    mps = TorchBackend(torch, "mps", None)
    assert mps.name == "torch:mps" and mps.is_gpu and not mps.cpu_threads
    assert mps.dtype("float32") is torch.float32
    with pytest.raises(DeviceError, match="'torch:mps' computes in float32 only.*--dtype float32"):
        mps.dtype("float64")


@pytest.mark.torch
def test_torch_draws_on_its_device_reseeded_from_the_host_every_epoch():
    """Per-batch draws on PyTorch come from a torch.Generator seeded from the host generator
    at the first draw of each epoch: the host's state between epochs fixes them all, and the
    host stream moves by one seed an epoch, not by the batch's size."""
    backend = get_backend("torch:cpu")
    x = backend.asarray(np.zeros((64, 32), dtype=np.float32))
    first, second = Random(3), Random(3)
    first.start_epoch()
    draws = [first.uniform_like(x) for _ in range(3)]
    assert not any(bool((draws[0] == d).all()) for d in draws[1:]), "a fresh mask every batch"
    second.start_epoch()
    assert all(bool((second.uniform_like(x) == d).all()) for d in draws)
    after = Random(3)
    after.host.integers(2**63)  # the one seed the epoch took
    np.testing.assert_array_equal(first.permutation(10), after.permutation(10))
    first.start_epoch()
    assert not bool((first.uniform_like(x) == draws[0]).all()), "a new epoch, new numbers"


@needs("array_api_strict:device1")
def test_a_run_makes_its_device_current(monkeypatch, tmp_path):
    """Experiment (a training run) calls use() on its backend before any array is made."""
    from lenet_xp.backends.strict_backend import StrictBackend
    from lenet_xp.data import DataError
    from lenet_xp.training import IO, Experiment, Placement, RunConfig
    from lenet_xp.training.communicators import SINGLE_PROCESS

    used = []
    monkeypatch.setattr(StrictBackend, "use", lambda self: used.append(self.name))
    with pytest.raises(DataError):  # no data there: the run stops after choosing its device
        config = RunConfig(placement=Placement(device="array_api_strict:device1"),
                           io=IO(data_dir=str(tmp_path), download=False, out=None))
        Experiment(*config.resolve(SINGLE_PROCESS), SINGLE_PROCESS)
    assert used == ["array_api_strict:device1"]


#: PyTorch's devices among the test devices (torch:cpu, and torch:cuda where there is one)
TORCH_DEVICES = [p for p in device_params("all") if "torch" in {m.name for m in p.marks}]


@pytest.mark.parametrize("device", TORCH_DEVICES)
def test_no_autograd_anywhere_in_a_training_step_on_torch(device):
    """lenet_xp's own passes give every gradient: after a step no tensor of the model, its
    gradients or the optimiser's state requires grad or holds an autograd graph."""
    from lenet_xp.models import get_model
    from lenet_xp.models.recipe import make_optimizer
    from lenet_xp.training.step import forward_backward

    backend = get_backend(device)
    spec = get_model("deep_cnn")  # dropout: draws on the device too
    model = spec.build(Random(0)).to(backend)
    optimizer = make_optimizer(spec.recipe, model.parameters())
    x = Random(1).normal(backend, (4, 1, 28, 28))
    outputs, batch_loss = forward_backward(model, spec.loss(), x, backend.asarray(np.arange(4)))
    optimizer.step()
    tensors = [outputs, batch_loss, *(v for p in model.parameters().values() for v in (p.data, p.grad)),
               *(v for state in optimizer.state for v in state.values())]
    assert all(not t.requires_grad and t.grad_fn is None for t in tensors)
    assert {backend_of(t).name for t in tensors} == {backend.name}


@pytest.mark.parametrize("device", [p for p in TORCH_DEVICES if p.values[0] == "torch:cpu"])
def test_torch_cpu_threads_are_set_with_numpys(device):
    """A plan's threads reach PyTorch's intra-op pool as well as numpy's BLAS."""
    import torch

    before = torch.get_num_threads()
    try:
        get_backend(device).limit_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
        limit_cpu_threads(before)


def test_a_simulated_device_on_numpy_1_says_it_needs_numpy_2(monkeypatch, fresh_backends):
    """array_api_strict brings arrays back from device1 with numpy 2's asarray(copy=...): on
    numpy 1.26 (lenet_xp's floor) asking for device1 is one clear error, not a traceback at
    the first transfer."""
    import lenet_xp.backends.strict_backend as strict_backend

    monkeypatch.setattr(strict_backend.np, "__version__", "1.26.4")
    with pytest.raises(DeviceError, match=r"'array_api_strict:device1' needs numpy >= 2 "
                                          r"\(this is 1.26.4\).*--device array_api_strict"):
        get_backend("array_api_strict:device1")
    assert get_backend("array_api_strict").name == "array_api_strict"
