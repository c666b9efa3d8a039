"""Stand-ins for GPU libraries, to test how lenet_xp chooses and uses GPUs on a machine that
has none: a fake CuPy module, and PyTorch's CPU build told that it sees CUDA GPUs."""

from __future__ import annotations

import sys
import types

import pytest


def fake_cupy(monkeypatch, gpus: int = 2) -> list:
    """Put a stand-in for CuPy with ``gpus`` GPUs in ``sys.modules``; returns the list that
    records which device is made current (``index``) or entered (``("with", index)``), and
    the compute types set (``("compute type", dtype, type)``)."""
    used = []
    compute_types = {}

    def set_compute_type(dtype, compute_type):
        compute_types[dtype] = compute_type
        used.append(("compute type", dtype, compute_type))

    class Device:
        def __init__(self, index):
            self.id = index

        def use(self):
            used.append(self.id)

        def __enter__(self):
            used.append(("with", self.id))

        def __exit__(self, *exc):
            pass

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(is_available=lambda: True, Device=Device,
                                      runtime=types.SimpleNamespace(getDeviceCount=lambda: gpus))
    fake.random = types.SimpleNamespace(default_rng=lambda seed: ("generator", seed))
    linalg = types.SimpleNamespace(  # cupy._core._routines_linalg's compute types
        COMPUTE_TYPE_DEFAULT=1, COMPUTE_TYPE_TF32=7, set_compute_type=set_compute_type,
        get_compute_type=lambda dtype: compute_types.get(dtype, 0),
        compute_type_to_str={0: "COMPUTE_TYPE_TBD", 1: "COMPUTE_TYPE_DEFAULT",
                             7: "COMPUTE_TYPE_TF32"}.get)
    fake._core = types.ModuleType("cupy._core")
    fake._core._routines_linalg = linalg
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setitem(sys.modules, "cupy._core", fake._core)
    monkeypatch.setitem(sys.modules, "array_api_compat.cupy", types.ModuleType("xp_cupy"))
    return used


def fake_torch_cuda(monkeypatch, gpus: int = 2):
    """PyTorch (skipped where it is not installed) told that it sees ``gpus`` CUDA GPUs; the
    backend made of it computes nothing, but its choice of GPU and its settings are real."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    return torch
