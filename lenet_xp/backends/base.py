"""The :class:`Backend` interface: what lenet_xp asks of an array library and a device in it.

Layers, losses, optimisers and models take the namespace of their arrays
(``array_namespace(x)``) and ask a backend one thing only: whether its operations cost their
launch more than their bytes (:attr:`Backend.launch_bound`, asked in one place,
:func:`lenet_xp.primitives.launch_bound`), which chooses how convolutions and pooling
gather their windows. The rest of lenet_xp (data, training, tools) asks
the backend for what the array API standard leaves out: moving host arrays on and off the
device, per-batch random numbers drawn there, waiting for the device, its memory, the CPU
threads, the current device of a thread. It asks by capability (:attr:`Backend.is_gpu`,
:attr:`Backend.cpu_threads`, :attr:`Backend.supports_float64`, ...), never by name: one
subclass per library (:mod:`~lenet_xp.backends.numpy_backend`,
:mod:`~lenet_xp.backends.strict_backend`, :mod:`~lenet_xp.backends.cupy_backend`,
:mod:`~lenet_xp.backends.torch_backend`) answers for it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import threadpoolctl

#: An array of whichever library a backend wraps (numpy, CuPy, PyTorch, array_api_strict): the
#: array API standard gives it no static type, so type checkers take it as Any
Array = Any

FLOAT_DTYPES = ("float32", "float64")

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""The variables BLAS and OpenMP libraries read, once, when they are loaded."""

_THREAD_LIMITS = None  # keeps the threadpoolctl limit in force for the process


class DeviceError(RuntimeError):
    """A device string that names no usable device; the message says why and what to do."""


class Backend:
    """An array namespace and a device in it; subclasses answer for one library.

    Attributes:
        name: the normalised device string (``cpu``, ``cuda:0``, ``array_api_strict:device1``,
            ``torch:cpu``, ``torch:cuda:1``); ``get_backend(name)`` gives this backend back.
        xp: the array API namespace.
        device: the namespace's device object, passed as ``device=`` to creation functions.
        hardware: what computes: ``"cpu"`` (this host's cores, simulated devices included),
            ``"cuda"`` (NVIDIA, or AMD through ROCm builds), ``"mps"`` (Apple), ``"xpu"`` (Intel).
        index: the accelerator's number among its kind on this host (None on the CPU).
        launch_bound: every operation costs a fixed launch (a GPU kernel: microseconds,
            whatever its size), so layers take the fewest operations (all of a layer's windows
            in one gather, no scatter-add) over the CPU's cache-friendly ones (strided slice
            copies, blocked columns). :attr:`is_gpu` by default; the launch counter sets it on
            ``torch:cpu`` to count what a GPU runs (:mod:`lenet_xp.tools.bench.launches`), and
            the tests to check the GPU's passes on every backend.
    """

    #: per-batch random numbers (dropout masks, elastic fields) are drawn on the device by
    #: :meth:`generator`'s generator; False: on the host and copied (numpy's numbers exactly)
    draws_on_device = False
    #: lenet_xp chooses this backend's CPU threads (all cores by default; a batch may be
    #: split across them): a library that computes on this host's cores
    cpu_threads = False
    #: float64 arrays work (Apple's MPS has none)
    supports_float64 = True
    #: a line worth telling the user about how this device was chosen (MPI ranks sharing
    #: GPUs round-robin: :func:`~lenet_xp.backends.gpu_choice.choose_gpu`), else None
    note: str | None = None

    def __init__(self, name: str, xp: Any, device: Any, hardware: str = "cpu",
                 index: int | None = None):
        self.name, self.xp, self.device = name, xp, device
        self.hardware, self.index = hardware, index
        self.launch_bound = self.is_gpu

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    @property
    def is_gpu(self) -> bool:
        """Computes on an accelerator: work is queued (time it with :meth:`synchronize`), every
        device→host read stalls the queue, and CPU threads are not lenet_xp's to choose."""
        return self.hardware != "cpu"

    def dtype(self, name: str):
        """The namespace's dtype for ``"float32"`` or ``"float64"``.

        Raises ValueError for other names, DeviceError for float64 where the device has none."""
        if name not in FLOAT_DTYPES:
            raise ValueError(f"unsupported dtype {name!r}: use one of {', '.join(FLOAT_DTYPES)}")
        if name == "float64" and not self.supports_float64:
            raise DeviceError(f"device {self.name!r} computes in float32 only (it has no "
                              "float64): use --dtype float32")
        return getattr(self.xp, name)

    def asarray(self, host_array, dtype=None):
        """A copy of a host (numpy) array, or anything numpy accepts, on this device (never an
        alias)."""
        return self.xp.asarray(np.asarray(host_array), dtype=dtype, device=self.device, copy=True)

    def to_numpy(self, x) -> np.ndarray:
        """A host numpy copy (or view, on the CPU) of an array of this backend."""
        return np.asarray(x)

    def generator(self, seed: int):
        """A generator on the device, seeded with ``seed``, whose ``random(shape, dtype)`` gives
        U(0, 1) samples there (only where :attr:`draws_on_device`)."""
        raise NotImplementedError(f"{self.name} draws its random numbers on the host")

    def synchronize(self) -> None:
        """Wait until all work queued on the device is done (a no-op on the CPU)."""

    def memory_pool_bytes(self) -> int | None:
        """Bytes the library's memory pool holds on the device now; None off a GPU."""
        return None

    def free_memory_pool(self) -> None:
        """Give back the device memory the pool caches but no array uses (a no-op off a GPU)."""

    def describe(self) -> dict:
        """For reports: the GPU's name and the library's version on a GPU; nothing on the CPU."""
        return {}

    def limit_threads(self, threads: int) -> None:
        """Compute on ``threads`` CPU threads from now on (numpy's BLAS, and the library's own)."""
        limit_cpu_threads(threads)

    def use(self) -> None:
        """Make this device the calling thread's current one, where the library has such a
        thing (CuPy launches its kernels on the current GPU, whatever device the arrays are on):
        what a process that computes on this device calls first."""


def limit_cpu_threads(threads: int) -> None:
    """Let numpy's BLAS (and OpenMP libraries loaded later) use ``threads`` threads, for the
    rest of the process.

    Resizes the running BLAS pool with ``threadpoolctl`` and sets :data:`THREAD_ENV_VARS` for
    libraries not loaded yet. One thread is what :class:`lenet_xp.training.split_batch.SplitBatch`
    wants per worker.
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
