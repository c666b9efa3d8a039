"""Batch normalisation: the forward pass in both modes against a direct numpy computation and
against PyTorch's (where torch is installed), the running statistics, gradients and curvature
on the simulated accelerator, the statistics as saved state, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import Random, backend_of, get_backend, to_numpy
from lenet_xp.runs.checkpoint import load_checkpoint, save_checkpoint
from lenet_xp.gradcheck import check_backward, check_curvature
from lenet_xp.layers import (BatchNorm1d, BatchNorm2d, Conv2d, Flatten, Linear, ReLU,
                             Sequential)
from lenet_xp.losses import SoftmaxCrossEntropy
from lenet_xp.optim import SDLM

from backends import device_params, needs
from layer_cases import batchnorm

KINDS = {"2d": (BatchNorm2d, (6, 3, 4, 5), (0, 2, 3)), "1d": (BatchNorm1d, (7, 4), (0,))}


def _layer_and_inputs(kind, device, count=1):
    """A layer with γ, β away from 1, 0 (float64, on ``device``) and ``count`` host batches
    whose mean (about 3) and spread (about 2) are far from the running statistics' start."""
    cls, shape, axes = KINDS[kind]
    layer = batchnorm(cls, shape[1]).to(get_backend(device), "float64")
    rng = np.random.default_rng(0)
    batches = [3.0 + 2.0 * rng.standard_normal(shape) for _ in range(count)]
    return layer, batches, axes


def _broadcast(values, ndim):
    return values.reshape((1, -1) + (1,) * (ndim - 2))


@pytest.mark.parametrize("device", device_params("all"))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_training_normalises_by_the_batch_and_updates_the_running_statistics(kind, device):
    layer, batches, axes = _layer_and_inputs(kind, device, count=2)
    backend = get_backend(device)
    gamma, beta = to_numpy(layer.gamma.data), to_numpy(layer.beta.data)
    running_mean, running_var = np.zeros(gamma.shape), np.ones(gamma.shape)
    for x in batches:
        y = to_numpy(layer.train().forward(backend.asarray(x)))
        mean, var = x.mean(axis=axes), x.var(axis=axes)  # biased, as the normalisation uses
        expected = (_broadcast(gamma, x.ndim) * (x - _broadcast(mean, x.ndim))
                    / np.sqrt(_broadcast(var, x.ndim) + 1e-5) + _broadcast(beta, x.ndim))
        np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
        count = x.size // x.shape[1]
        running_mean = 0.9 * running_mean + 0.1 * mean
        running_var = 0.9 * running_var + 0.1 * var * count / (count - 1)  # unbiased
        np.testing.assert_allclose(to_numpy(layer.running_mean), running_mean, rtol=1e-12)
        np.testing.assert_allclose(to_numpy(layer.running_var), running_var, rtol=1e-12)


@pytest.mark.parametrize("device", device_params("all"))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_evaluation_uses_the_running_statistics_and_updates_nothing(kind, device):
    layer, batches, _ = _layer_and_inputs(kind, device, count=4)
    backend = get_backend(device)
    for x in batches[:3]:
        layer.train().forward(backend.asarray(x))
    mean, var = to_numpy(layer.running_mean).copy(), to_numpy(layer.running_var).copy()
    x = batches[3]
    y = to_numpy(layer.eval().forward(backend.asarray(x)))
    gamma, beta = to_numpy(layer.gamma.data), to_numpy(layer.beta.data)
    expected = (_broadcast(gamma, x.ndim) * (x - _broadcast(mean, x.ndim))
                / np.sqrt(_broadcast(var, x.ndim) + 1e-5) + _broadcast(beta, x.ndim))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert np.array_equal(to_numpy(layer.running_mean), mean)
    assert np.array_equal(to_numpy(layer.running_var), var)
    # one image at a time is fine in evaluation, and each image's output is its own
    single = to_numpy(layer.forward(backend.asarray(x[:1])))
    np.testing.assert_allclose(single, y[:1], rtol=1e-12, atol=1e-12)
    with pytest.raises(RuntimeError, match="before a training-mode forward"):
        layer.backward(backend.asarray(np.ones_like(x)))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_same_numbers_as_pytorch(kind):
    torch = pytest.importorskip("torch", reason="torch is optional (pip install torch==2.13.0)")
    functional = torch.nn.functional
    layer, batches, _ = _layer_and_inputs(kind, "cpu", count=3)
    gamma = torch.tensor(to_numpy(layer.gamma.data), requires_grad=True)
    beta = torch.tensor(to_numpy(layer.beta.data), requires_grad=True)
    running_mean, running_var = torch.zeros(gamma.shape, dtype=torch.float64), torch.ones(
        gamma.shape, dtype=torch.float64)
    for x in batches[:2]:
        dy = np.random.default_rng(1).standard_normal(x.shape)
        x_torch = torch.tensor(x, requires_grad=True)
        y_torch = functional.batch_norm(x_torch, running_mean, running_var, gamma, beta,
                                        training=True, momentum=0.1, eps=1e-5)
        y_torch.backward(torch.tensor(dy))
        y = layer.train().forward(x)
        dx = layer.backward(dy)
        np.testing.assert_allclose(y, y_torch.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dx, x_torch.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(layer.gamma.grad, gamma.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(layer.beta.grad, beta.grad.numpy(), rtol=1e-10, atol=1e-12)
        gamma.grad = beta.grad = None
        np.testing.assert_allclose(layer.running_mean, running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(layer.running_var, running_var.numpy(), rtol=1e-12)
    expected = functional.batch_norm(torch.tensor(batches[2]), running_mean, running_var,
                                     gamma.detach(), beta.detach(), training=False, eps=1e-5)
    np.testing.assert_allclose(layer.eval().forward(batches[2]), expected.numpy(), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("device", device_params("apart"))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_gradients_and_curvature_where_arrays_live_apart_from_the_host(kind, device):
    layer, batches, _ = _layer_and_inputs(kind, device)
    x = get_backend(device).asarray(batches[0])
    check_backward(layer, x)
    check_curvature(layer, x)


def test_holding_the_statistics_fixed_would_fail_the_curvature_check():
    """The curvature check sees the statistics' part: (γ/s)²·h, the diagonal with μ and σ held
    fixed, differs from the layer's true Gauss-Newton diagonal by O(1/M) and is caught."""
    layer, batches, _ = _layer_and_inputs("1d", "cpu")

    def fixed_statistics(d2y):
        layer.gamma.curvature = np.sum(d2y * layer._normalised ** 2, axis=0)
        layer.beta.curvature = np.sum(d2y, axis=0)
        return d2y * (layer.gamma.data * layer._inv_std) ** 2

    check_curvature(layer, batches[0])
    layer.backward_curvature = fixed_statistics
    with pytest.raises(AssertionError, match="d2x"):
        check_curvature(layer, batches[0])


def test_clear_errors():
    with pytest.raises(ValueError, match=r"expects input \(N, 3, H, W\), got \(2, 4, 5, 5\)"):
        BatchNorm2d(3).forward(np.zeros((2, 4, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"expects input \(N, 3\), got \(2, 3, 1, 1\)"):
        BatchNorm1d(3).forward(np.zeros((2, 3, 1, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="more than one value per channel.*batches of 2 or more"):
        BatchNorm1d(3).forward(np.zeros((1, 3), dtype=np.float32))
    BatchNorm2d(3).forward(np.zeros((1, 3, 2, 2), dtype=np.float32))  # 4 values per map
    with pytest.raises(RuntimeError, match="before a training-mode forward"):
        BatchNorm2d(3).backward_curvature(np.zeros((2, 3, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="momentum in \\[0, 1\\]"):
        BatchNorm1d(3, momentum=1.5)


def _bn_network(dtype="float64"):
    random = Random(0)
    return Sequential(("conv", Conv2d(1, 3, 3, random=random, dtype=dtype)),
                      ("bn1", BatchNorm2d(3, dtype=dtype)), ("relu", ReLU()),
                      ("flatten", Flatten()), ("fc", Linear(3 * 4 * 4, 5, random=random, dtype=dtype)),
                      ("bn2", BatchNorm1d(5, dtype=dtype)), ("out", Linear(5, 3, random=random, dtype=dtype)))


def _train_steps(model, steps=3):
    rng = np.random.default_rng(2)
    loss = SoftmaxCrossEntropy()
    for _ in range(steps):
        x = rng.standard_normal((8, 1, 6, 6)) + 1.0
        loss.forward(model.train().forward(x), rng.integers(0, 3, 8))
        model.backward(loss.backward())
    return rng.standard_normal((5, 1, 6, 6))


@needs("array_api_strict:device1")
def test_running_statistics_are_state_not_parameters():
    model = _bn_network()
    assert set(model.parameters()) == {"conv.weight", "conv.bias", "bn1.gamma", "bn1.beta",
                                       "fc.weight", "fc.bias", "bn2.gamma", "bn2.beta",
                                       "out.weight", "out.bias"}
    assert not model.parameters()["bn1.gamma"].decay and not model.parameters()["bn2.beta"].decay
    assert model.num_parameters() == 30 + 6 + 245 + 10 + 18
    assert set(model.state_dict()) == set(model.parameters()) | {
        "bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var"}
    model.to(get_backend("array_api_strict:device1"), "float32")
    assert backend_of(model["bn1"].running_var).name == "array_api_strict:device1"
    assert model["bn2"].running_mean.dtype == get_backend("array_api_strict").xp.float32


def test_save_then_load_gives_identical_evaluation_outputs(tmp_path):
    model = _bn_network()
    x = _train_steps(model)
    assert not np.allclose(to_numpy(model["bn1"].running_mean), 0)
    expected = to_numpy(model.eval().forward(x))
    loaded = load_checkpoint(save_checkpoint(tmp_path / "bn.npz", model, {"epoch": 1})).params
    assert "bn2.running_var" in loaded
    fresh = _bn_network()
    fresh.load_state_dict(loaded)
    for name, value in model.state_dict().items():
        assert np.array_equal(to_numpy(fresh.state_dict()[name]), to_numpy(value)), name
    assert np.array_equal(to_numpy(fresh.eval().forward(x)), expected)
    with pytest.raises(KeyError, match="missing \\['bn1.running_mean'\\]"):
        fresh.load_state_dict({k: v for k, v in loaded.items() if k != "bn1.running_mean"})
    with pytest.raises(ValueError, match="bn2.running_var: state has shape \\(4,\\), model has \\(5,\\)"):
        fresh.load_state_dict({**loaded, "bn2.running_var": np.ones(4)})


def test_sdlm_estimate_through_batch_norm_leaves_the_running_statistics_alone():
    model = _bn_network()
    _train_steps(model)
    before = {name: to_numpy(value).copy() for name, value in model.state_arrays().items()}
    optimizer = SDLM(model.parameters(), lr=1e-3, chunk_size=4)
    rng = np.random.default_rng(5)
    optimizer.estimate_curvature(model, SoftmaxCrossEntropy(), rng.standard_normal((12, 1, 6, 6)),
                                 rng.integers(0, 3, 12))
    for name, value in model.state_arrays().items():
        assert np.array_equal(to_numpy(value), before[name]), name
    for name, state in zip(model.parameters(), optimizer.state):
        h = to_numpy(state["curvature"])
        assert np.all(np.isfinite(h)) and np.all(h >= 0) and h.max() > 0, name
