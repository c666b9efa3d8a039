"""Sequential: names, modes, device moves and state dicts; Dropout's modes."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.layers import (AvgPool2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU,
                             RepeatMaps, Sequential, Subsample2d, Zoom2d)


def _net(seed=0):
    return Sequential(("C1", Conv2d(1, 2, 3, random=Random(seed))), ("A1", ReLU()),
                      ("F", Flatten()), ("D", Dropout(0.5, random=Random(seed))),
                      ("OUT", Linear(32, 3, random=Random(seed + 1))))


def test_parameter_names_and_count():
    net = _net()
    assert list(net.parameters()) == ["C1.weight", "C1.bias", "OUT.weight", "OUT.bias"]
    assert net.num_parameters() == 2 * 9 + 2 + 32 * 3 + 3
    assert isinstance(net["C1"], Conv2d)
    assert "(C1): Conv2d(1, 2, kernel_size=3" in repr(net)


def test_unnamed_layers_are_numbered_and_duplicates_refused():
    assert list(Sequential(ReLU(), Linear(2, 2)).parameters()) == ["1.weight", "1.bias"]
    with pytest.raises(ValueError, match="two layers are named 'A'"):
        Sequential(("A", ReLU()), ("A", ReLU()))
    with pytest.raises(TypeError, match="not a Layer"):
        Sequential(lambda x: x)


def test_state_dict_round_trip_across_backends(backend_name):
    source = _net(seed=0)
    target = _net(seed=5).to(backend_name)
    before = {k: v for k, v in target.state_dict().items()}
    target.load_state_dict({k: to_numpy(v) for k, v in source.state_dict().items()})
    for name, value in source.state_dict().items():
        assert target.state_dict()[name] is before[name], "loading copies into the same arrays"
        np.testing.assert_array_equal(to_numpy(target.state_dict()[name]), to_numpy(value))


def test_load_state_dict_errors():
    net = _net()
    state = {k: to_numpy(v) for k, v in net.state_dict().items()}
    with pytest.raises(KeyError, match="missing \\['OUT.bias'\\]"):
        net.load_state_dict({k: v for k, v in state.items() if k != "OUT.bias"})
    with pytest.raises(ValueError, match="OUT.weight: state has shape"):
        net.load_state_dict({**state, "OUT.weight": np.zeros((3, 3), dtype=np.float32)})


def test_eval_mode_turns_dropout_off_and_train_mode_back_on(backend_name):
    net = _net().to(backend_name)
    x = Random(1).normal(get_backend(backend_name), (4, 1, 6, 6))
    net.eval()
    assert all(not layer.training for layer in net.layers)
    np.testing.assert_array_equal(to_numpy(net.forward(x)), to_numpy(net.forward(x)))
    net.train()
    assert not np.array_equal(to_numpy(net.forward(x)), to_numpy(net.forward(x)))


def test_dropout_keeps_the_expected_value(backend_name):
    backend = get_backend(backend_name)
    x = backend.asarray(np.ones((200, 500), dtype=np.float32))
    y = to_numpy(Dropout(0.3, random=Random(0)).forward(x))
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.7)}
    assert (y == 0).mean() == pytest.approx(0.3, abs=0.01)
    assert y.mean() == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        Dropout(1.0)


@pytest.mark.parametrize("layer", [Linear(2, 2), Conv2d(1, 1, 1), MaxPool2d(2), AvgPool2d(2),
                                   Subsample2d(1), ReLU()])
def test_backward_before_forward_is_a_clear_error(layer):
    with pytest.raises(RuntimeError, match="before a training-mode forward"):
        layer.backward(np.zeros((1, 1, 2, 2)))


@pytest.mark.parametrize("layer", [Linear(2, 2), Conv2d(1, 1, 1)])
def test_a_curvature_pass_before_forward_is_a_clear_error_naming_the_layer(layer):
    with pytest.raises(RuntimeError, match=f"{type(layer).__name__}.backward called before a "
                                           "training-mode forward"):
        layer.backward_curvature(np.zeros((1, 1, 2, 2)))


def test_no_input_gradient_is_computed_in_front_of_the_first_learning_layer():
    """LeNet-1's shape: fixed layers (a zoom, copies of maps) before the first convolution.
    By default neither they nor that convolution compute dE/dx, and the weights' gradients
    are those of the same network asked for its input gradient."""
    def net():
        return Sequential(("Z", Zoom2d(6, 0.8)), ("R", RepeatMaps(2)),
                          ("C", Conv2d(2, 3, 3, random=Random(0))), ("F", Flatten()),
                          ("OUT", Linear(48, 2, random=Random(1))))
    x = np.random.default_rng(0).normal(size=(4, 1, 6, 6)).astype(np.float32)
    dy = np.ones((4, 2), dtype=np.float32)
    default, asked = net(), net()
    asked.needs_input_grad = True
    assert [default[name].needs_input_grad for name in ("Z", "R", "C", "OUT")] == [False, False, False, True]
    assert all(asked[name].needs_input_grad for name in ("Z", "R", "C", "OUT"))
    default.forward(x)
    asked.forward(x)
    assert default.backward(dy) is None and default.backward_curvature(dy * dy) is None
    assert asked.backward(dy).shape == x.shape
    for name, param in default.parameters().items():
        np.testing.assert_allclose(param.grad, asked.parameters()[name].grad, rtol=1e-6, err_msg=name)
