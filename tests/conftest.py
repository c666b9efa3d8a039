"""Shared fixtures: the backends every numerical test runs on.

``backend_name`` runs a test on numpy (``cpu``), on ``array_api_strict`` (which refuses any
call outside the array API standard) and, marked ``gpu``, on CuPy. GPU tests skip with the
reason where CuPy or a GPU is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lenet_xp.backend import DeviceError, get_backend

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"

PORTABLE_BACKENDS = ["cpu", "array_api_strict"]
ALL_BACKENDS = PORTABLE_BACKENDS + [pytest.param("cuda", marks=pytest.mark.gpu)]


def _gpu_unavailable_reason() -> str | None:
    try:
        get_backend("cuda")
    except DeviceError as exc:
        return str(exc)
    return None


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    reason = _gpu_unavailable_reason()
    if reason is not None:
        skip = pytest.mark.skip(reason=f"no GPU to run on: {reason}")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture(params=ALL_BACKENDS)
def backend_name(request) -> str:
    """Every backend: cpu, array_api_strict, and cuda where a GPU is present."""
    return request.param


@pytest.fixture(params=["array_api_strict", pytest.param("cuda", marks=pytest.mark.gpu)])
def other_backend_name(request) -> str:
    """The backends whose numbers must match numpy's."""
    return request.param


@pytest.fixture
def shared_mnist() -> Path:
    """The real MNIST folder beside the repository (../shared/data/mnist), or skip."""
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST files not found in {SHARED_MNIST}")
    return SHARED_MNIST
