"""Finite-difference checks, in float64, of every layer's backward and curvature passes."""

from __future__ import annotations

import pytest

from lenet_xp.backend import Random, get_backend
from lenet_xp.gradcheck import check_backward, check_curvature

from layer_cases import LAYER_CASES


def _case(name, backend_name):
    factory, shape = LAYER_CASES[name]
    backend = get_backend(backend_name)
    layer = factory().to(backend, "float64")
    x = Random(11).normal(backend, shape, std=1.0, dtype="float64")
    return layer, x


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_backward_matches_finite_differences(name, backend_name):
    layer, x = _case(name, backend_name)
    check_backward(layer, x)


# Through a whole network the layer-by-layer rule drops cross terms (LeCun's diagonal
# approximation), so it is exact only layer by layer; test_optim_sdlm checks a network.
@pytest.mark.parametrize("name", sorted(set(LAYER_CASES) - {"network"}))
def test_curvature_matches_gauss_newton_rule(name, backend_name):
    layer, x = _case(name, backend_name)
    check_curvature(layer, x)


#: the cases whose layers take the GPU's gathering path where operations cost their launch
WINDOW_CASES = sorted(name for name in LAYER_CASES
                      if name.startswith(("conv", "maxpool", "avgpool", "subsample", "network")))


@pytest.mark.parametrize("name", WINDOW_CASES)
def test_gathered_windows_match_finite_differences(name, backend_name, monkeypatch):
    """The GPU's path (all of a layer's windows in one gather, dx by correlation, max-pool's
    gradient routed by one copy), taken on every backend, against finite differences too."""
    monkeypatch.setattr(get_backend(backend_name), "launch_bound", True)
    layer, x = _case(name, backend_name)
    check_backward(layer, x)
    if name != "network":
        check_curvature(layer, x)


def test_gradient_check_catches_a_wrong_backward():
    layer, x = _case("linear", "cpu")
    layer.backward = lambda dy: 2 * dy @ layer.weight.data  # noqa: E731 - a deliberately wrong dx
    with pytest.raises(AssertionError, match="dx"):
        check_backward(layer, x)
