"""``array_api_strict``: the standard and nothing else, on the host or on a simulated
accelerator (device strings ``array_api_strict``, ``array_api_strict:device1``/``device2``).

On ``device1`` (or ``device2``) every array refuses implicit conversion to numpy and any mix
with host arrays, as a CuPy array does: a whole run there proves that nothing leaks off the
device path, without a GPU.
"""

from __future__ import annotations

import numpy as np

from .base import Backend, DeviceError
from .gpu_choice import ALONE, HostRanks

#: array_api_strict's devices (lower case, as device strings are): the host's, then two others
STRICT_DEVICES = ("cpu_device", "device1", "device2")

INSTALL_HINT = 'pip install "lenet_xp[test]"'


class StrictBackend(Backend):
    """array_api_strict on one of its devices. Per-batch random numbers are drawn on the host
    (numpy's numbers, so runs here match numpy's) and copied to the device."""

    def __init__(self, xp, device_name: str):
        on_host = device_name == STRICT_DEVICES[0]
        super().__init__("array_api_strict" if on_host else f"array_api_strict:{device_name}", xp,
                         xp.Device(device_name.upper() if on_host else device_name))

    def to_numpy(self, x) -> np.ndarray:
        # arrays on array_api_strict's other devices refuse np.asarray, as CuPy's do
        return np.asarray(x.to_device(self.xp.Device("CPU_DEVICE")))


def parse(spec: str, host: HostRanks = ALONE) -> StrictBackend:
    """``array_api_strict`` or ``array_api_strict:DEVICE``."""
    try:
        import array_api_strict
    except ImportError as exc:
        raise DeviceError(f"device {spec!r} needs the array-api-strict package: "
                          f"{INSTALL_HINT}") from exc
    device_name = spec.partition(":")[2] or STRICT_DEVICES[0]
    if device_name not in STRICT_DEVICES:
        raise DeviceError(f"bad device {spec!r}: array_api_strict's devices are "
                          f"{', '.join(STRICT_DEVICES)}")
    if device_name != STRICT_DEVICES[0] and int(np.__version__.split(".")[0]) < 2:
        # array_api_strict's to_device copies with asarray(copy=True), which numpy 1 lacks
        raise DeviceError(f"device {spec!r} needs numpy >= 2 (this is {np.__version__}): "
                          "array_api_strict brings arrays back from its simulated devices with "
                          "numpy 2's asarray(copy=...); pip install 'numpy>=2', or use "
                          "--device array_api_strict")
    return StrictBackend(array_api_strict, device_name)


def device_string(x) -> str:
    """The device string of an array_api_strict array."""
    import array_api_strict

    for name in STRICT_DEVICES[1:]:
        if x.device == array_api_strict.Device(name):
            return f"array_api_strict:{name}"
    return "array_api_strict"
