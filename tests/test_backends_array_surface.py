"""CuPy's and PyTorch's surface against what lenet_xp really uses, without a GPU.

Training (recipe, distortions, optimiser, moving average), evaluation and prediction of every
zoo model run on array_api_strict with a recorder: every namespace function lenet_xp takes
from ``array_namespace(x)`` or ``backend.xp``, and every array attribute, method or operator
its code touches (library-specific code in lenet_xp.backend and lenet_xp.backends aside). The
test then fails if ``array_api_compat.cupy`` or ``cupy.ndarray`` lacks any of them (CuPy
imports without a GPU: CI installs cupy-cuda12x at its floor), and likewise for
``array_api_compat.torch`` and ``torch.Tensor``. Recorded at run time, so a layer that
starts to use a new function is checked with no change here.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from lenet_xp.backend import get_backend
from lenet_xp.models.registry import MODELS
from mnist_files import learnable_arrays, train_quietly, write_fake_mnist

#: Array's special methods that are not operations on its values (made, shown, pickled)
_NOT_OPERATIONS = {"__new__", "__init__", "__getattribute__", "__setattr__", "__repr__",
                   "__str__", "__format__", "__reduce__", "__reduce_ex__", "__getstate__",
                   "__setstate__", "__sizeof__", "__class_getitem__", "__init_subclass__",
                   "__array_namespace__", "__array__", "__buffer__", "__subclasshook__"}


def _from_lenet_xp(frame) -> bool:
    """Whether ``frame`` runs lenet_xp's portable code (not a backend module, which may use
    its own library's API, nor the libraries themselves)."""
    module = frame.f_globals.get("__name__", "")
    return module.startswith("lenet_xp.") and not module.startswith("lenet_xp.backend")


class RecordingNamespace:
    """array_api_strict's namespace, recording the name of everything lenet_xp takes from it."""

    def __init__(self, xp, taken: set):
        self.__name__, self._xp, self._taken = xp.__name__, xp, taken

    def __getattr__(self, name):
        if _from_lenet_xp(sys._getframe(1)):
            self._taken.add(name)
        return getattr(self._xp, name)


def _record_array_use(monkeypatch, array_type, used: set) -> None:
    """Record each attribute, method and operator of ``array_type`` that lenet_xp touches."""
    plain = array_type.__getattribute__

    def getattribute(self, name):
        if not name.startswith("_") and _from_lenet_xp(sys._getframe(1)):
            used.add(name)
        return plain(self, name)

    def recorded(name, method):
        def operation(self, *args, **kwargs):
            if _from_lenet_xp(sys._getframe(1)):
                used.add(name)
            return method(self, *args, **kwargs)
        return operation

    monkeypatch.setattr(array_type, "__getattribute__", getattribute)
    for name, method in list(vars(array_type).items()):
        if (name.startswith("__") and name.endswith("__") and callable(method)
                and name not in _NOT_OPERATIONS):
            monkeypatch.setattr(array_type, name, recorded(name, method))


@pytest.fixture(scope="module")
def used(tmp_path_factory) -> dict[str, set]:
    """{"functions": names taken from the namespace, "attributes": of the arrays} while every
    zoo model trains an epoch of a few batches (its own recipe: distortions, optimiser,
    schedule, moving average), is validated and tested, and its model file predicts digits,
    feature maps and every layer's outputs."""
    import array_api_strict
    from array_api_strict._array_object import Array
    from lenet_xp import backend as backend_module
    from lenet_xp.inference import load_model

    root = tmp_path_factory.mktemp("surface")
    arrays = learnable_arrays(n_train=400, n_test=40)
    write_fake_mnist(root / "data", arrays)
    digits = arrays["t10k-images-idx3-ubyte"][:3]
    taken: dict[str, set] = {"functions": set(), "attributes": set()}
    with pytest.MonkeyPatch.context() as patch:
        for cache in ("_BY_SPEC", "_BY_NAME", "_BY_ARRAY"):
            patch.setattr(backend_module, cache, {})
        namespace = RecordingNamespace(array_api_strict, taken["functions"])
        patch.setattr(get_backend("array_api_strict"), "xp", namespace)
        patch.setattr(Array, "__array_namespace__", lambda self, api_version=None: namespace)
        _record_array_use(patch, Array, taken["attributes"])
        for name, spec in MODELS.items():
            batch = spec.recipe.batch_size
            train_quietly(root / "data", root / name, {"epochs": 1}, model=name, val_size=20,
                          device="array_api_strict", train_limit=max(2 * batch, 60), threads=1)
            model = load_model(root / name / "model.npz", device="array_api_strict")
            model.predict(digits).top(3)
            model.feature_maps(digits[0])
            model.layer_outputs(digits[0])
    return taken


def test_the_recorder_sees_what_every_model_uses(used):
    """It records, or the checks below would pass on nothing: what every network needs."""
    assert {"reshape", "zeros", "matmul", "take", "argmax"} <= used["functions"]
    assert {"shape", "dtype", "__setitem__", "__getitem__", "__mul__"} <= used["attributes"]


def _lacking(namespace, array_type, used: dict[str, set]) -> list[str]:
    return ([f"{namespace.__name__}.{name}" for name in sorted(used["functions"])
             if not hasattr(namespace, name)]
            + [f"{array_type.__module__}.{array_type.__name__}.{name}"
               for name in sorted(used["attributes"]) if not hasattr(array_type, name)])


def test_cupy_has_everything_lenet_xp_uses(used):
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed (.ci/run installs "
                                              "cupy-cuda12x at its floor, which imports "
                                              "without a GPU)")
    import array_api_compat.cupy as xp

    assert _lacking(xp, cupy.ndarray, used) == [], f"CuPy {cupy.__version__} lacks them"


def test_torch_has_everything_lenet_xp_uses(used):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    import array_api_compat.torch as xp

    assert _lacking(xp, torch.Tensor, used) == [], f"PyTorch {torch.__version__} lacks them"


def test_a_missing_attribute_is_named():
    """The check names what a library lacks: CuPy 13's ndarray had no ``mT``."""
    class OldArray:
        shape = dtype = None

    names = {"functions": {"reshape", "einsum_of_the_future"}, "attributes": {"shape", "mT"}}
    assert _lacking(np, OldArray, names) == [
        "numpy.einsum_of_the_future", f"{__name__}.OldArray.mT"]
