"""Shared fixtures: the backends every numerical test runs on (listed once, in
tests/backends.py), and the real MNIST folder.

``backend_name`` runs a test on numpy (``cpu``), on ``array_api_strict`` (which refuses any
call outside the array API standard), on PyTorch's tensors (``torch:cpu``, marked ``torch``)
and, marked ``gpu``, on CuPy and PyTorch's CUDA. A device that cannot run here is skipped with
the reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backends import device_params, unavailable

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"

#: the devices a test marked by hand with one of these markers could run on
_MARKER_DEVICES = {"gpu": ("cuda", "torch:cuda"), "torch": ("torch:cpu",)}


def pytest_collection_modifyitems(config, items):
    """A test marked ``gpu`` or ``torch`` skips with the reason where none of the marker's
    devices can run (a test on one device of tests/backends.py also skips where that one
    cannot)."""
    for marker, devices in _MARKER_DEVICES.items():
        reasons = [f"{device}: {unavailable(device)}" for device in devices]
        if all(unavailable(device) is not None for device in devices):
            skip = pytest.mark.skip(reason="; ".join(reasons))
            for item in items:
                if marker in item.keywords:
                    item.add_marker(skip)


@pytest.fixture(params=device_params("every"))
def backend_name(request) -> str:
    """One device per library: cpu, array_api_strict, torch:cpu, and the GPUs where present."""
    return request.param


@pytest.fixture(params=device_params("others"))
def other_backend_name(request) -> str:
    """The backends whose numbers must match numpy's."""
    return request.param


@pytest.fixture(params=device_params("end_to_end"))
def device_name(request) -> str:
    """numpy, and every library on a device apart from the host: array_api_strict:device1,
    torch:cpu, the GPUs (for whole runs, models and checkpoints)."""
    return request.param


@pytest.fixture(params=["sliced", "gathered"])
def window_path(request, backend_name, monkeypatch) -> str:
    """The path convolutions and pooling take on ``backend_name`` for the test: the CPU's
    strided slices ("sliced") or the GPU's one gather per layer ("gathered"), chosen through
    the backend's ``launch_bound`` (lenet_xp.primitives.launch_bound), so that both run on
    every backend."""
    from lenet_xp.backend import get_backend

    monkeypatch.setattr(get_backend(backend_name), "launch_bound", request.param == "gathered")
    return request.param


@pytest.fixture
def fresh_backends(monkeypatch) -> None:
    """Empty backend caches for the test (restored after it): a test that fakes or hides a
    library gets backends made of what it sees, not those that the collection made where the
    library works (tests/backends.py makes every device once, to ask whether it can run)."""
    from lenet_xp import backend

    for cache in ("_BY_SPEC", "_BY_NAME", "_BY_ARRAY"):
        monkeypatch.setattr(backend, cache, {})


@pytest.fixture
def shared_mnist() -> Path:
    """The real MNIST folder beside the repository (../shared/data/mnist), or skip."""
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST files not found in {SHARED_MNIST}")
    return SHARED_MNIST
