"""PyTorch's tensors as an array library (device strings ``torch``/``torch:cpu``,
``torch:cuda``/``torch:cuda:N`` for NVIDIA GPUs and AMD ones through PyTorch's ROCm builds,
``torch:mps`` for Apple silicon, ``torch:xpu``/``torch:xpu:N`` for Intel GPUs), through
``array_api_compat.torch``.

Tensors only: lenet_xp's own hand-written passes compute every gradient, so no tensor ever
requires grad, and neither ``torch.nn``, ``torch.optim`` nor autograd is used. Per-batch random
numbers come from a ``torch.Generator`` on the device. On CUDA (and ROCm) float32 is computed in
full float32 (:func:`pin_full_float32`): no TF32, whatever the environment or PyTorch's
defaults say.
"""

from __future__ import annotations

import numpy as np

from .base import Backend, DeviceError, limit_cpu_threads
from .gpu_choice import ALONE, HostRanks, choose_gpu

INSTALL_HINT = ('pip install "lenet_xp[torch]" (a CPU build; for a GPU, the CUDA, ROCm or XPU '
                "build from https://pytorch.org/get-started)")

#: the kinds of torch device after ``torch:``, and whether they are numbered
HARDWARE = {"cpu": False, "cuda": True, "mps": False, "xpu": True}

_NO_DEVICE = {
    "cuda": "sees no CUDA or ROCm GPU (a CPU-only build, no GPU, or no driver that matches "
            "this build); check `nvidia-smi` or `rocm-smi`",
    "mps": "sees no Apple GPU (MPS needs Apple silicon and macOS 12.3 or later)",
    "xpu": "sees no Intel GPU (an XPU build of PyTorch and Intel's GPU driver are needed)",
}


def tf32_settings(torch) -> dict[str, bool]:
    """PyTorch's TF32 switches: cuBLAS's matrix products and cuDNN's convolutions."""
    return {"torch.backends.cuda.matmul.allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
            "torch.backends.cudnn.allow_tf32": bool(torch.backends.cudnn.allow_tf32)}


def pin_full_float32(torch) -> dict[str, bool]:
    """Compute float32 in full float32 on CUDA GPUs from now on, for the whole process: no
    TF32 (10 mantissa bits) in cuBLAS's matrix products or cuDNN's convolutions.

    PyTorch lets cuDNN use TF32 by default, and ``TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1`` (which
    some images set) turns it on for matrix products: float32 results would then differ from
    numpy's by about 1e-3, the comparisons of the tests and of the benchmark's twin would
    break, and runs would not be what they say. Returns :func:`tf32_settings` as read back.

    Raises:
        DeviceError: a PyTorch that keeps TF32 on whatever it is told (older ones read the
            variable on every product).
    """
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    settings = tf32_settings(torch)
    if any(settings.values()):
        raise DeviceError(f"this PyTorch ({torch.__version__}) keeps TF32 on ({settings}): "
                          "unset TORCH_ALLOW_TF32_CUBLAS_OVERRIDE")
    return settings


class TorchGenerator:
    """U(0, 1) samples on a torch device from a ``torch.Generator`` there."""

    def __init__(self, torch, device, seed: int):
        self._torch, self._device = torch, device
        self._generator = torch.Generator(device=device)
        self._generator.manual_seed(seed)

    def random(self, shape, dtype):
        return self._torch.rand(tuple(shape), generator=self._generator, dtype=dtype,
                                device=self._device)


class TorchBackend(Backend):
    """PyTorch tensors on one device (:data:`HARDWARE`)."""

    draws_on_device = True

    def __init__(self, torch, hardware: str, index: int | None):
        import array_api_compat.torch as xp

        name = f"torch:{hardware}" + (f":{index}" if index is not None else "")
        device = torch.device(hardware, index) if index is not None else torch.device(hardware)
        super().__init__(name, xp, device, hardware, index)
        self._torch = torch
        self.cpu_threads = hardware == "cpu"
        self.supports_float64 = hardware != "mps"
        if hardware == "cuda":
            pin_full_float32(torch)

    def asarray(self, host_array, dtype=None):
        return self._torch.tensor(np.asarray(host_array), dtype=dtype, device=self.device)

    def to_numpy(self, x) -> np.ndarray:
        return x.cpu().numpy()

    def generator(self, seed: int) -> TorchGenerator:
        return TorchGenerator(self._torch, self.device, seed)

    def _accelerator(self):
        """torch.cuda, torch.mps or torch.xpu; None on the CPU."""
        return None if self.hardware == "cpu" else getattr(self._torch, self.hardware)

    def synchronize(self) -> None:
        module = self._accelerator()
        if module is not None:
            module.synchronize(*([self.device] if self.index is not None else []))

    def memory_pool_bytes(self) -> int | None:
        """Bytes PyTorch's caching allocator reserves on a CUDA or XPU device; None elsewhere."""
        if self.index is None:
            return None
        return int(self._accelerator().memory_reserved(self.device))

    def free_memory_pool(self) -> None:
        module = self._accelerator()
        if module is not None:
            module.empty_cache()

    def describe(self) -> dict:
        if self.hardware == "cpu":
            return {}
        name = (self._accelerator().get_device_name(self.index) if self.index is not None
                else "Apple GPU (MPS)")
        tf32 = {"tf32": tf32_settings(self._torch)} if self.hardware == "cuda" else {}
        return {"gpu": name, "torch": self._torch.__version__, **tf32}

    def limit_threads(self, threads: int) -> None:
        limit_cpu_threads(threads)
        self._torch.set_num_threads(threads)

    def use(self) -> None:
        if self.index is not None:
            self._accelerator().set_device(self.index)


def parse(spec: str, host: HostRanks = ALONE) -> TorchBackend:
    """``torch`` (the CPU), ``torch:cpu``, ``torch:cuda[:N]``, ``torch:mps``, ``torch:xpu[:N]``;
    a numbered kind without N takes the GPU of this rank's place on its host (``host``,
    :func:`~lenet_xp.backends.gpu_choice.choose_gpu`)."""
    _, _, rest = spec.partition(":")
    hardware, _, index_text = (rest or "cpu").partition(":")
    if hardware not in HARDWARE:
        raise DeviceError(f"unknown device {spec!r}: PyTorch's devices are torch:cpu, "
                          "torch:cuda[:N], torch:mps and torch:xpu[:N]")
    if index_text and not (index_text.isdigit() and (HARDWARE[hardware] or index_text == "0")):
        raise DeviceError(f"bad device {spec!r}: "
                          + (f"the GPU index must be a number, as in torch:{hardware}:0"
                             if HARDWARE[hardware] else f"use torch:{hardware}"))
    try:
        import torch
    except ImportError as exc:
        raise DeviceError(f"device {spec!r} needs PyTorch, which is not installed: "
                          f"{INSTALL_HINT}; or use --device cpu") from exc
    if not HARDWARE[hardware]:
        if hardware == "mps" and not torch.backends.mps.is_available():
            raise DeviceError(f"device {spec!r}: this PyTorch ({torch.__version__}) "
                              f"{_NO_DEVICE['mps']}; use --device torch:cpu")
        return TorchBackend(torch, hardware, None)
    module = getattr(torch, hardware, None)
    if module is None or not module.is_available():
        raise DeviceError(f"device {spec!r}: this PyTorch ({torch.__version__}) "
                          f"{_NO_DEVICE[hardware]}; use --device torch:cpu")
    count = module.device_count()
    index, note = (int(index_text), None) if index_text else choose_gpu(count, host, hardware)
    if index >= count:
        raise DeviceError(f"device {spec!r}: this machine has {count} GPU(s), torch:{hardware}:0 "
                          f"to torch:{hardware}:{count - 1}")
    backend = TorchBackend(torch, hardware, index)
    backend.note = note
    return backend


def device_string(x) -> str:
    """The device string of a torch tensor."""
    device = x.device
    return f"torch:{device.type}" + (f":{device.index}" if HARDWARE.get(device.type) else "")
