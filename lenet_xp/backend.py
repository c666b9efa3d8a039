"""Devices, host/device transfer and random numbers: everything the array API standard lacks.

This is the one module of lenet_xp that names numpy or CuPy for numerical work. Every other
module gets its namespace from ``array_api_compat.array_namespace(x)`` and calls only the
standard's functions, so the same code runs on:

========================  =========================================  ==========================
device string             namespace                                  used for
========================  =========================================  ==========================
``cpu``                   numpy (through ``array_api_compat.numpy``)  training on the CPU
``cuda`` / ``cuda:N``     CuPy (through ``array_api_compat.cupy``)    training on an NVIDIA GPU
``array_api_strict``      ``array_api_strict``                        proof of portability
``array_api_strict:D``    ``array_api_strict`` on its device ``D``    a simulated accelerator
========================  =========================================  ==========================

``array_api_strict:device1`` (or ``device2``) puts every array on a device other than the
host's: like a CuPy array, it refuses implicit conversion to numpy and any mix with host
arrays, so a whole run there proves that nothing leaks off the device path without a GPU.

Random numbers are drawn on the host with numpy's PCG64 and then moved, so one seed gives the
same initial weights on every backend (CuPy's generator gives other numbers for the same seed).
Per-batch randomness that must stay on the GPU (dropout masks) uses CuPy's own generator,
seeded from the host generator afresh at every epoch (:meth:`Random.start_epoch`), so the host
generator's state between epochs fixes every later number: what a checkpoint needs to resume
a run exactly (CuPy's generator states cannot be saved). :func:`limit_cpu_threads` sets how many threads numpy's BLAS
(and OpenMP libraries loaded later) may use.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import array_api_compat
import numpy as np
import threadpoolctl

CUDA_INSTALL_HINT = 'pip install "lenet_xp[cuda12]" (or "lenet_xp[cuda13]" for CUDA 13)'

_FLOAT_DTYPES = ("float32", "float64")

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""The variables BLAS and OpenMP libraries read, once, when they are loaded."""

#: array_api_strict's devices (lower case, as device strings are): the host's, then two others
STRICT_DEVICES = ("cpu_device", "device1", "device2")

_THREAD_LIMITS = None  # keeps the threadpoolctl limit in force for the process


class DeviceError(RuntimeError):
    """A device string that names no usable device; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class Backend:
    """An array namespace and a device in it.

    Attributes:
        name: the device string it was made from, normalised (``cpu``, ``cuda:0``,
            ``array_api_strict``).
        xp: the array API namespace.
        device: the namespace's device object, passed as ``device=`` to creation functions.
    """

    name: str
    xp: Any
    device: Any

    @property
    def is_cuda(self) -> bool:
        return self.name.startswith("cuda")

    def dtype(self, name: str):
        """The namespace's dtype for ``"float32"`` or ``"float64"``."""
        if name not in _FLOAT_DTYPES:
            raise ValueError(f"unsupported dtype {name!r}: use one of {', '.join(_FLOAT_DTYPES)}")
        return getattr(self.xp, name)

    def asarray(self, host_array, dtype=None):
        """A copy of a host (numpy) array, or anything numpy accepts, on this device (never an alias)."""
        host_array = np.asarray(host_array)
        if self.is_cuda:
            import cupy

            with cupy.cuda.Device(self.device.id):
                return cupy.asarray(host_array, dtype=dtype)
        return self.xp.asarray(host_array, dtype=dtype, device=self.device, copy=True)

    def describe(self) -> dict:
        """For reports: the GPU's name and the CuPy version on CUDA; nothing on the CPU."""
        if not self.is_cuda:
            return {}
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(self.device.id)["name"]
        return {"gpu": name.decode() if isinstance(name, bytes) else str(name),
                "cupy": cupy.__version__}

    def memory_pool_bytes(self) -> int | None:
        """Bytes CuPy's default memory pool holds on the GPU now; None off the GPU."""
        if not self.is_cuda:
            return None
        import cupy

        return int(cupy.get_default_memory_pool().total_bytes())

    def free_memory_pool(self) -> None:
        """Return the GPU memory CuPy's pool caches but no array uses (a no-op off the GPU)."""
        if self.is_cuda:
            import cupy

            cupy.get_default_memory_pool().free_all_blocks()

    def synchronize(self) -> None:
        """Wait until all work queued on the device is done (a no-op on the CPU)."""
        if self.is_cuda:
            import cupy

            cupy.cuda.Device(self.device.id).synchronize()


def limit_cpu_threads(threads: int) -> None:
    """Let numpy's BLAS (and OpenMP libraries loaded later, such as PyTorch's) use ``threads``
    threads, for the rest of the process.

    Resizes the running BLAS pool with ``threadpoolctl`` and sets :data:`THREAD_ENV_VARS` for
    libraries not loaded yet. One thread is what :class:`lenet_xp.training.split_batch.SplitBatch` wants
    per worker.
    """
    global _THREAD_LIMITS
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(threads)
    _THREAD_LIMITS = threadpoolctl.threadpool_limits(limits=threads)


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def blas_info() -> dict:
    """numpy's BLAS: ``{"name", "version", "threads"}`` (None where unknown)."""
    for lib in threadpoolctl.threadpool_info():
        if lib.get("user_api") == "blas":
            return {"name": lib.get("internal_api"), "version": lib.get("version"),
                    "threads": lib.get("num_threads")}
    return {"name": None, "version": None, "threads": None}


def to_numpy(x) -> np.ndarray:
    """A host numpy copy (or view, on the CPU) of an array from any supported backend."""
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if type(x).__module__.startswith("array_api_strict"):
        import array_api_strict

        # arrays on array_api_strict's other devices refuse np.asarray, as CuPy's do
        x = x.to_device(array_api_strict.Device("CPU_DEVICE"))
    return np.asarray(x)


def backend_of(x) -> Backend:
    """The :class:`Backend` an existing array lives on."""
    if array_api_compat.is_cupy_array(x):
        return get_backend(f"cuda:{x.device.id}")
    if array_api_compat.is_numpy_array(x):
        return get_backend("cpu")
    xp = array_api_compat.array_namespace(x)
    device = array_api_compat.device(x)
    if xp.__name__ == "array_api_strict":
        for name in STRICT_DEVICES[1:]:
            if device == xp.Device(name):
                return Backend(name=f"array_api_strict:{name}", xp=xp, device=device)
    return Backend(name=xp.__name__, xp=xp, device=device)


def get_backend(spec: str) -> Backend:
    """Parse a device string (``cpu``, ``cuda``, ``cuda:N``, ``array_api_strict``).

    Raises:
        DeviceError: unknown string, CuPy missing, or no usable GPU; the message gives the fix.
    """
    spec = spec.strip().lower()
    if spec == "cpu":
        import array_api_compat.numpy as xp_numpy

        return Backend(name="cpu", xp=xp_numpy, device="cpu")
    if spec == "array_api_strict":
        try:
            import array_api_strict
        except ImportError as exc:
            raise DeviceError(
                "device 'array_api_strict' needs the array-api-strict package: "
                'pip install "lenet_xp[test]"'
            ) from exc
        return Backend(name="array_api_strict", xp=array_api_strict,
                       device=array_api_strict.Device("CPU_DEVICE"))
    if spec.startswith("array_api_strict:"):
        return _strict_device_backend(spec)
    if spec == "cuda" or spec.startswith("cuda:"):
        return _cuda_backend(spec)
    raise DeviceError(f"unknown device {spec!r}: use cpu, cuda, cuda:N or array_api_strict")


def _strict_device_backend(spec: str) -> Backend:
    xp = get_backend("array_api_strict").xp
    name = spec.partition(":")[2]
    if name not in STRICT_DEVICES:
        raise DeviceError(f"bad device {spec!r}: array_api_strict's devices are "
                          f"{', '.join(STRICT_DEVICES)}")
    if name == STRICT_DEVICES[0]:
        return get_backend("array_api_strict")
    return Backend(name=spec, xp=xp, device=xp.Device(name))


def _cuda_backend(spec: str) -> Backend:
    index_text = spec.partition(":")[2] or "0"
    if not index_text.isdigit():
        raise DeviceError(f"bad device {spec!r}: the GPU index must be a number, as in cuda:0")
    index = int(index_text)
    try:
        import cupy
    except ImportError as exc:
        raise DeviceError(
            f"device {spec!r} needs CuPy, which is not installed: {CUDA_INSTALL_HINT}, "
            "or train on the CPU with --device cpu"
        ) from exc
    # `import cupy` succeeds without a GPU; is_available() is the reliable check.
    if not cupy.cuda.is_available():
        raise DeviceError(
            f"device {spec!r}: CuPy is installed but sees no usable NVIDIA GPU (no GPU, or no "
            "driver that matches this CuPy build); check `nvidia-smi`, or use --device cpu"
        )
    count = cupy.cuda.runtime.getDeviceCount()
    if index >= count:
        raise DeviceError(f"device {spec!r}: this machine has {count} GPU(s), cuda:0 to cuda:{count - 1}")
    import array_api_compat.cupy as xp_cupy

    return Backend(name=f"cuda:{index}", xp=xp_cupy, device=cupy.cuda.Device(index))


class Random:
    """A seeded random source whose draws land on any backend.

    Weight draws happen on the host (numpy PCG64), so the same seed gives bit-identical
    initial weights on numpy, array_api_strict and CuPy. The training loop calls
    :meth:`start_epoch` before every epoch: the GPU generator and the streams made by
    :meth:`spawn` are then re-derived from the host generator, so its state between two
    epochs (:meth:`state`, what a checkpoint keeps) decides every number drawn after.
    """

    def __init__(self, seed: int | list[int] | None = 0):
        self.seed = seed
        self.host = np.random.default_rng(seed)
        self._cuda_generator = None
        self._children: list[Random] = []
        self._key = 0

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
        """U(0, 1) samples of x's shape, dtype and device, drawn on that device where possible.

        Used per batch (dropout), so on the GPU the numbers are made there, with CuPy's own
        generator, seeded from the host generator at its first use in each epoch, and nothing
        crosses the bus.
        """
        if array_api_compat.is_cupy_array(x):
            if self._cuda_generator is None:
                import cupy

                self._cuda_generator = cupy.random.default_rng(self._draw_seed())
            return self._cuda_generator.random(x.shape, dtype=x.dtype)
        # float64 draws, then a cast: numpy and array_api_strict get the same numbers.
        return backend_of(x).asarray(self.host.random(x.shape), dtype=x.dtype)

    def spawn(self, key: int = 0) -> "Random":
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
        """Re-derive the GPU generator (at its next use) and the spawned streams from the host
        generator. Draws from the host only for spawned streams: without them, the host stream is
        the same as if it were never called."""
        self._cuda_generator = None
        for child in self._children:
            child.host = np.random.default_rng([self._draw_seed(), child._key])
            child.start_epoch()

    def _draw_seed(self) -> int:
        return int(self.host.integers(2**63))

    def state(self) -> dict:
        """The host generator's state (a JSON-able dict), for checkpoints."""
        return self.host.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.host.bit_generator.state = state
