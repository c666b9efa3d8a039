"""The backends the tests run on, listed once (as scikit-learn's
``yield_namespace_device_dtype_combinations`` lists its namespaces and devices).

Each :class:`TestDevice` is a device string with its pytest marks (``torch``, ``gpu``); a
device that cannot run here (library not installed, no GPU) is skipped with the reason its
backend gives. Tests take the devices through the fixtures of conftest.py (``backend_name``,
``other_backend_name``, ``device_name``) or ``pytest.mark.parametrize(..., device_params(...))``.
A new backend is one line in :data:`TEST_DEVICES`, and the whole suite gains it.
"""

from __future__ import annotations

import dataclasses
import functools

import pytest

from lenet_xp.backend import DeviceError, get_backend


@dataclasses.dataclass(frozen=True)
class TestDevice:
    """A device string the tests run on.

    Attributes:
        name: the device string.
        marks: the pytest marker names it carries (``torch``, ``gpu``).
        reference: numpy on the CPU, the numbers the others are compared with.
        one_per_library: the device that stands for its library where each library runs
            once (the host's for array_api_strict, whose device1 is separate).
        apart_from_host: its arrays live apart from the host's memory (a GPU, array_api_strict's
            simulated device1, or PyTorch's tensors): where a leak to numpy would break.
        numpy_arithmetic: numpy computes underneath (array_api_strict wraps it), in numpy's
            order: float sums agree with numpy's to the last bit, not only to rounding.
    """

    __test__ = False  # not a test class, despite its name

    name: str
    marks: tuple[str, ...] = ()
    reference: bool = False
    one_per_library: bool = True
    apart_from_host: bool = True
    numpy_arithmetic: bool = False


TEST_DEVICES = (
    TestDevice("cpu", reference=True, apart_from_host=False, numpy_arithmetic=True),
    TestDevice("array_api_strict", apart_from_host=False, numpy_arithmetic=True),
    TestDevice("array_api_strict:device1", one_per_library=False, numpy_arithmetic=True),
    TestDevice("torch:cpu", ("torch",)),
    TestDevice("cuda", ("gpu",)),
    TestDevice("torch:cuda", ("gpu", "torch")),
)


def float_tolerance(name: str, dtype: str = "float32") -> float:
    """The relative tolerance of a figure summed on device ``name`` against numpy's: none
    beyond the last bits where numpy computes underneath, float rounding elsewhere."""
    if next(d for d in TEST_DEVICES if d.name == name).numpy_arithmetic:
        return 1e-6 if dtype == "float32" else 1e-12
    return 1e-4 if dtype == "float32" else 1e-10


@functools.cache
def unavailable(name: str) -> str | None:
    """Why device ``name`` cannot run here (its backend's one-line error), or None."""
    try:
        get_backend(name)
    except DeviceError as exc:
        return str(exc)
    return None


def needs(name: str):
    """The mark of a test written for device ``name`` alone: skipped with the reason where it
    cannot run (as a test taking the devices of :func:`device_params` would be)."""
    reason = unavailable(name)
    return pytest.mark.skipif(reason is not None, reason=f"{name}: {reason}")


def _param(device: TestDevice):
    reason = unavailable(device.name)
    marks = [getattr(pytest.mark, mark) for mark in device.marks]
    marks.append(pytest.mark.skipif(reason is not None, reason=f"{device.name}: {reason}"))
    return pytest.param(device.name, marks=marks, id=device.name)


def device_params(selection: str = "every") -> list:
    """``pytest.param``s of the devices of ``selection``:

    - ``"every"``: one device per library: numpy, array_api_strict, torch:cpu, the GPUs;
    - ``"others"``: those whose numbers are compared with numpy's (all but numpy);
    - ``"end_to_end"``: numpy, and every library where its arrays live apart from the host
      (array_api_strict:device1, torch:cpu, the GPUs): for whole runs, checkpoints and models;
    - ``"apart"``: those of ``"end_to_end"`` but numpy;
    - ``"all"``: every device string of :data:`TEST_DEVICES`.
    """
    chosen = {
        "every": lambda d: d.one_per_library,
        "others": lambda d: d.one_per_library and not d.reference,
        "end_to_end": lambda d: d.reference or d.apart_from_host,
        "apart": lambda d: d.apart_from_host,
        "all": lambda d: True,
    }[selection]
    return [_param(device) for device in TEST_DEVICES if chosen(device)]
