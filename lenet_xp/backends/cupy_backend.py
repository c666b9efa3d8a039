"""CuPy on an NVIDIA GPU (device strings ``cuda``, ``cuda:N``), through ``array_api_compat.cupy``.

CuPy launches a kernel on the calling thread's current GPU, whatever device its arrays are
on: a process computing on ``cuda:1`` calls :meth:`CupyBackend.use` first (a training run and
the benchmark do), and arrays and generators are made inside ``with device:``. float32 is
computed in full float32 (:func:`pin_full_float32`), whatever ``CUPY_TF32`` says.
"""

from __future__ import annotations

import numpy as np

from .base import Backend, DeviceError
from .gpu_choice import ALONE, HostRanks, choose_gpu

INSTALL_HINT = 'pip install "lenet_xp[cuda12]" (or "lenet_xp[cuda13]" for CUDA 13)'


def pin_full_float32(cupy) -> str:
    """Compute float32 matrix products in full float32 from now on, for the whole process:
    cuBLAS's default compute type, never TF32 (10 mantissa bits), which ``CUPY_TF32=1``
    would choose at the first product. Returns the compute type's name as read back."""
    from cupy._core import _routines_linalg as linalg  # CuPy's switch (13 and 14)

    linalg.set_compute_type(np.float32, linalg.COMPUTE_TYPE_DEFAULT)  # complex64's too
    return linalg.compute_type_to_str(linalg.get_compute_type(np.float32))


class CupyBackend(Backend):
    """CuPy on GPU ``index``: per-batch random numbers from CuPy's own generator there."""

    draws_on_device = True

    def __init__(self, cupy, index: int):
        import array_api_compat.cupy as xp

        super().__init__(f"cuda:{index}", xp, cupy.cuda.Device(index), "cuda", index)
        self._cupy = cupy
        self.compute_type = pin_full_float32(cupy)

    def asarray(self, host_array, dtype=None):
        with self.device:
            return self._cupy.asarray(np.asarray(host_array), dtype=dtype)

    def to_numpy(self, x) -> np.ndarray:
        return x.get()

    def generator(self, seed: int):
        with self.device:
            return self._cupy.random.default_rng(seed)  # its random(shape, dtype) fits

    def synchronize(self) -> None:
        self.device.synchronize()

    def memory_pool_bytes(self) -> int:
        """Bytes CuPy's default memory pool holds on the current GPU (each rank has one)."""
        return int(self._cupy.get_default_memory_pool().total_bytes())

    def free_memory_pool(self) -> None:
        self._cupy.get_default_memory_pool().free_all_blocks()

    def describe(self) -> dict:
        name = self._cupy.cuda.runtime.getDeviceProperties(self.index)["name"]
        return {"gpu": name.decode() if isinstance(name, bytes) else str(name),
                "cupy": self._cupy.__version__, "float32_compute_type": self.compute_type}

    def use(self) -> None:
        self.device.use()


def parse(spec: str, host: HostRanks = ALONE) -> CupyBackend:
    """``cuda:N``, or ``cuda``: the GPU of this rank's place on its host (``host``,
    :func:`~lenet_xp.backends.gpu_choice.choose_gpu`)."""
    index_text = spec.partition(":")[2]
    if index_text and not index_text.isdigit():
        raise DeviceError(f"bad device {spec!r}: the GPU index must be a number, as in cuda:0")
    try:
        import cupy
    except ImportError as exc:
        raise DeviceError(
            f"device {spec!r} needs CuPy, which is not installed: {INSTALL_HINT}, "
            "or train on the CPU with --device cpu"
        ) from exc
    if not _sees_a_gpu(cupy):
        raise DeviceError(
            f"device {spec!r}: CuPy is installed but sees no usable NVIDIA GPU (no GPU, or no "
            "driver that matches this CuPy build); check `nvidia-smi`, or use --device cpu"
        )
    count = cupy.cuda.runtime.getDeviceCount()
    index, note = (int(index_text), None) if index_text else choose_gpu(count, host, "cuda")
    if index >= count:
        raise DeviceError(f"device {spec!r}: this machine has {count} GPU(s), cuda:0 to "
                          f"cuda:{count - 1}")
    backend = CupyBackend(cupy, index)
    backend.note = note
    return backend


def _sees_a_gpu(cupy) -> bool:
    """`import cupy` succeeds without a GPU; is_available() is the check, and CuPy 13 raises
    (cudaErrorInsufficientDriver) where 14 answers False."""
    try:
        return bool(cupy.cuda.is_available())
    except Exception:  # noqa: BLE001 -- whatever CUDA's runtime raises, there is no GPU to use
        return False


def device_string(x) -> str:
    """The device string of a CuPy array."""
    return f"cuda:{x.device.id}"
