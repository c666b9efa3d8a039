"""numpy on this host's CPU (device string ``cpu``), through ``array_api_compat.numpy``."""

from __future__ import annotations

from .base import Backend, DeviceError
from .gpu_choice import ALONE, HostRanks


class NumpyBackend(Backend):
    """numpy: computes on this host's cores, with the BLAS threads lenet_xp sets."""

    cpu_threads = True

    def __init__(self):
        import array_api_compat.numpy as xp

        super().__init__("cpu", xp, "cpu")


def parse(spec: str, host: HostRanks = ALONE) -> NumpyBackend:
    """``cpu``."""
    if spec != "cpu":
        raise DeviceError(f"bad device {spec!r}: numpy's device is cpu")
    return NumpyBackend()
