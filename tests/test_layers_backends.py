"""Every layer gives the same numbers on numpy and on the other backends (strict, CuPy)."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy

from layer_cases import LAYER_CASES


def _run(name, backend_name, dtype):
    factory, shape = LAYER_CASES[name]
    backend = get_backend(backend_name)
    layer = factory().to(backend, dtype).train()
    x = Random(5).normal(backend, shape, dtype=dtype)
    y = layer.forward(x)
    dy = Random(6).normal(backend, tuple(y.shape), dtype=dtype)
    dx = layer.backward(dy)
    grads = {n: to_numpy(p.grad) for n, p in layer.parameters().items()}
    d2x = layer.backward_curvature(dy * dy)
    curvatures = {n: to_numpy(p.curvature) for n, p in layer.parameters().items()}
    outputs = {"y": to_numpy(y), "dx": to_numpy(dx), "d2x": to_numpy(d2x)}
    return outputs, grads, curvatures


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_same_numbers_as_numpy(name, other_backend_name, dtype):
    tolerance = {"float32": 1e-5, "float64": 1e-12}[dtype]
    expected = _run(name, "cpu", dtype)
    actual = _run(name, other_backend_name, dtype)
    for expected_part, actual_part in zip(expected, actual):
        assert expected_part.keys() == actual_part.keys()
        for key in expected_part:
            assert actual_part[key].dtype == np.dtype(dtype)
            np.testing.assert_allclose(actual_part[key], expected_part[key], rtol=tolerance,
                                       atol=tolerance, err_msg=f"{name}: {key}")


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_eval_mode_forward_equals_training_forward(name, backend_name):
    factory, shape = LAYER_CASES[name]
    if name == "dropout":
        pytest.skip("dropout is meant to differ between modes (tested in test_layers_dropout)")
    if name.startswith("batchnorm"):
        pytest.skip("batch normalisation is meant to differ between modes (tested in "
                    "test_layers_batchnorm)")
    backend = get_backend(backend_name)
    layer = factory().to(backend, "float64")
    x = Random(5).normal(backend, shape, dtype="float64")
    trained = to_numpy(layer.train().forward(x))
    evaluated = to_numpy(layer.eval().forward(x))
    np.testing.assert_array_equal(evaluated, trained)
