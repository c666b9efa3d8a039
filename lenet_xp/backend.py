"""Devices, host/device transfer and random numbers: everything the array API standard lacks.

Numerical code (layers, losses, optimisers, models) gets its namespace from
``array_api_compat.array_namespace(x)`` and calls only the standard's functions. Everything
else asks this module for a :class:`Backend` (:func:`get_backend` from a device string,
:func:`backend_of` from an array) and asks the backend, by capability, never by name, for what
the standard lacks. One small class per array library answers (:mod:`lenet_xp.backends`):

=========================================  ==================  ===============================
device string                              library             used for
=========================================  ==================  ===============================
``cpu``                                    numpy               training on the CPU
``cuda`` / ``cuda:N``                      CuPy                an NVIDIA GPU
``torch`` / ``torch:cpu``                  PyTorch's tensors   the CPU, through PyTorch
``torch:cuda`` / ``torch:cuda:N``          PyTorch's tensors   an NVIDIA GPU, or AMD (ROCm)
``torch:mps``                              PyTorch's tensors   Apple silicon (float32 only)
``torch:xpu`` / ``torch:xpu:N``            PyTorch's tensors   an Intel GPU
``array_api_strict``                       array_api_strict    proof of portability
``array_api_strict:device1`` (``device2``)  array_api_strict    a simulated accelerator
=========================================  ==================  ===============================

Random numbers for weights are drawn on the host with numpy's PCG64 and then moved, so one
seed gives the same initial weights on every backend. Per-batch randomness (dropout masks,
elastic fields) is drawn where the batch is: on numpy and array_api_strict from the host
generator itself; on a GPU library (CuPy, PyTorch) from that library's generator on the
device, seeded from the host generator afresh at every epoch (:meth:`Random.start_epoch`), so
the host generator's state between epochs fixes every later number: what a checkpoint needs
to resume a run exactly, and nothing crosses the bus per batch. Per-batch numbers that are
made on the host (the affine distortions' maps, :meth:`Random.staged`) are made for many
batches at once and cross in one copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backends import cupy_backend, numpy_backend, strict_backend, torch_backend
from .backends.base import (
    THREAD_ENV_VARS,
    Backend,
    DeviceError,
    available_cores,
    blas_info,
    limit_cpu_threads,
)
from .backends.gpu_choice import ALONE, HostRanks
from .backends.strict_backend import STRICT_DEVICES

#: rows :meth:`Random.staged` makes and copies to the device at a time: an epoch of MNIST's
#: 60,000 images in one copy
STAGED_ROWS = 65536

__all__ = ["ALONE", "STRICT_DEVICES", "THREAD_ENV_VARS", "Backend", "DeviceError", "HostRanks",
           "NoDraws", "Random",
           "available_cores", "backend_of", "blas_info", "get_backend", "limit_cpu_threads",
           "to_numpy"]

#: device string family (before the first ':') -> its library's parser
_LIBRARIES = {"cpu": numpy_backend, "cuda": cupy_backend, "torch": torch_backend,
              "array_api_strict": strict_backend}

DEVICE_STRINGS = ("cpu, cuda[:N], torch[:cpu], torch:cuda[:N], torch:mps, torch:xpu[:N], "
                  "array_api_strict[:device1]")
"""The device strings, for help texts and error messages."""

_BY_SPEC: dict[tuple[str, HostRanks], Backend] = {}  # (device string, host ranks) -> backend
_BY_NAME: dict[str, Backend] = {}  # one backend object per device
_BY_ARRAY: dict[tuple[type, str], Backend] = {}  # (array type, str(its device)) -> backend


def get_backend(spec: str, host: HostRanks = ALONE) -> Backend:
    """The backend of a device string (see the table above), made once per device.

    ``host``: this process's place among the MPI ranks of its host, which decides the GPU
    where ``spec`` names a kind of GPU but no number (``cuda``, ``torch:cuda``; see
    :func:`lenet_xp.backends.gpu_choice.choose_gpu`); the first GPU for a process alone.

    Raises:
        DeviceError: unknown string, library missing, or no such device; the message gives the fix.
    """
    key = (spec.strip().lower(), host)
    backend = _BY_SPEC.get(key)
    if backend is None:
        library = _LIBRARIES.get(key[0].partition(":")[0])
        if library is None:
            raise DeviceError(f"unknown device {spec.strip()!r}: use {DEVICE_STRINGS}")
        made = library.parse(*key)
        backend = _BY_SPEC[key] = _BY_NAME.setdefault(made.name, made)
    return backend


def backend_of(x) -> Backend:
    """The :class:`Backend` an existing array lives on (looked up, not made, after the first
    array of its kind and device: it is asked several times per batch)."""
    if isinstance(x, np.ndarray):
        return get_backend("cpu")
    key = (type(x), str(x.device))
    backend = _BY_ARRAY.get(key)
    if backend is None:
        backend = _BY_ARRAY[key] = get_backend(_device_string(x))
    return backend


def _device_string(x) -> str:
    import array_api_compat

    if array_api_compat.is_torch_array(x):
        return torch_backend.device_string(x)
    if array_api_compat.is_cupy_array(x):
        return cupy_backend.device_string(x)
    if type(x).__module__.startswith("array_api_strict"):
        return strict_backend.device_string(x)
    raise TypeError(f"{type(x).__module__}.{type(x).__name__} is no array of a lenet_xp "
                    f"backend ({DEVICE_STRINGS})")


def to_numpy(x) -> np.ndarray:
    """A host numpy copy (or view, on the CPU) of an array from any backend (or of anything
    numpy takes, such as nested lists)."""
    if isinstance(x, np.ndarray) or not hasattr(x, "device"):
        return np.asarray(x)
    return backend_of(x).to_numpy(x)


class Random:
    """A seeded random source whose draws land on any backend.

    Weight draws happen on the host (numpy PCG64), so the same seed gives bit-identical
    initial weights on every backend. The training loop calls :meth:`start_epoch` before every
    epoch: the device generators and the streams made by :meth:`spawn` are then re-derived
    from the host generator, so its state between two epochs (:meth:`state`, what a
    checkpoint keeps) decides every number drawn after.
    """

    def __init__(self, seed: int | list[int] | None = 0):
        self.seed = seed
        self.host = np.random.default_rng(seed)
        self._device_generators: dict[str, Any] = {}
        self._children: list[Random] = []
        self._key = 0
        self._staged: dict = {}  # (what, backend, dtype) -> [rows on the device, next row]

    def normal(self, backend: Backend, shape, std: float = 1.0, dtype: str = "float32"):
        """Samples of N(0, std^2) with the given shape, on ``backend``."""
        return backend.asarray(self.host.normal(0.0, std, size=shape), dtype=backend.dtype(dtype))

    def uniform(self, backend: Backend, shape, low: float, high: float, dtype: str = "float32"):
        """Samples of U(low, high) with the given shape, on ``backend``."""
        return backend.asarray(self.host.uniform(low, high, size=shape), dtype=backend.dtype(dtype))

    def integers(self, low: int, high: int, size) -> np.ndarray:
        """Host integers uniform in [low, high) (int64), for augmentation parameters."""
        return self.host.integers(low, high, size=size)

    def permutation(self, n: int) -> np.ndarray:
        """A host permutation of range(n) (int64), for shuffling and splits."""
        return self.host.permutation(n)

    def uniform_like(self, x):
        """U(0, 1) samples of x's shape, dtype and device, drawn on that device where its
        library can (:attr:`Backend.draws_on_device`).

        Used per batch (dropout, elastic fields), so on a GPU the numbers are made there, by
        the library's own generator, seeded from the host generator at its first use in each
        epoch, and nothing crosses the bus. Elsewhere they are the host generator's.
        """
        backend = backend_of(x)
        if not backend.draws_on_device:
            # float64 draws, then a cast: numpy and array_api_strict get the same numbers.
            return backend.asarray(self.host.random(tuple(x.shape)), dtype=x.dtype)
        generator = self._device_generators.get(backend.name)
        if generator is None:
            generator = self._device_generators[backend.name] = backend.generator(self._draw_seed())
        return generator.random(tuple(x.shape), x.dtype)

    def staged(self, what: str, backend: Backend, n: int, make, dtype):
        """The next ``n`` rows of host-made random numbers ``what``, on ``backend`` in
        ``dtype``: ``make(m)`` draws m rows from this generator (a host array (m, ...)); it is
        called for :data:`STAGED_ROWS` rows (or n, if more) at a time, and the block crosses
        to the device in one copy, of which each call takes the next n rows (a slice). On a
        GPU the per-batch numbers then cost no transfer and no wait.

        :meth:`start_epoch` drops the blocks, so the host generator's state at an epoch's
        start fixes its numbers (what a resumed run needs); numpy and array_api_strict get the
        same numbers, as both are made on the host."""
        key = (what, backend.name, str(dtype))
        block = self._staged.get(key)
        if block is None or block[1] + n > block[0].shape[0]:
            block = self._staged[key] = [backend.asarray(make(max(n, STAGED_ROWS)), dtype=dtype), 0]
        rows, start = block
        block[1] = start + n
        return rows[start:start + n, ...]

    def spawn(self, key: int = 0) -> Random:
        """An independent stream (a replica's or a rank's dropout), re-seeded from this one by
        every :meth:`start_epoch`; ``key`` tells apart the streams spawned from one generator
        (SplitBatch: the replica; MPI: the rank, as every rank holds the same generator).

        Spawning draws nothing from this generator (so a stream spawned after a checkpoint
        was restored changes no later number); until the first :meth:`start_epoch` the
        child's numbers are fixed by ``key`` alone."""
        child = Random([key])
        child._key = key
        self._children.append(child)
        return child

    def start_epoch(self) -> None:
        """Re-derive the device generators (at their next use) and the spawned streams from the
        host generator. Draws from the host only for spawned streams: without them, the host
        stream is the same as if it were never called."""
        self._device_generators = {}
        self._staged = {}
        for child in self._children:
            child.host = np.random.default_rng([self._draw_seed(), child._key])
            child.start_epoch()

    def _draw_seed(self) -> int:
        return int(self.host.integers(2**63))

    def state_dict(self) -> dict:
        """The host generator's state (JSON), which fixes every number drawn after it: what
        a checkpoint keeps (the device generators and spawned streams are re-derived from it
        at every :meth:`start_epoch`)."""
        return dict(self.host.bit_generator.state)

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict`'s state; numpy's TypeError, ValueError or
        KeyError where it is not a PCG64 state."""
        self.host.bit_generator.state = state


class NoDraws(Random):
    """A :class:`Random` that draws no weights: every weight comes out 0, so a network built
    with it has the shapes and dtypes of one drawn from a seed, for the cost of allocating
    them (what a checkpoint's entries are checked against, and what loading fills)."""

    def normal(self, backend: Backend, shape, std: float = 1.0, dtype: str = "float32"):
        return backend.asarray(np.zeros(shape), dtype=backend.dtype(dtype))

    def uniform(self, backend: Backend, shape, low: float, high: float, dtype: str = "float32"):
        return backend.asarray(np.zeros(shape), dtype=backend.dtype(dtype))
