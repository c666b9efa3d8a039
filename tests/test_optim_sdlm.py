"""SDLM: its second-derivative pass against a finite-difference Gauss-Newton diagonal, its
step rule, its use of the dataset before each epoch, and that it trains."""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.data import DeviceDataset
from lenet_xp.gradcheck import assert_close, numerical_jacobian
from lenet_xp.layers import Conv2d, Flatten, Linear, Parameter, ScaledTanh, Sequential, Subsample2d
from lenet_xp.losses import MAPLoss, MeanSquaredError, SoftmaxCrossEntropy
from lenet_xp.models.recipe import Recipe, make_optimizer
from lenet_xp.optim import SDLM, schedules
from lenet_xp.training.scoring import evaluate
from lenet_xp.training.step import TrainingStep
from lenet_xp.training.trainer import Feed, Trainer


def _tiny_network(backend):
    """Linear(4→1) → ScaledTanh → Linear(1→3): one hidden unit, so every parameter reaches
    each output along one path and the layer-by-layer diagonal is the exact GN diagonal."""
    net = Sequential(("L1", Linear(4, 1, random=Random(1))), ("A", ScaledTanh()),
                     ("L2", Linear(1, 3, random=Random(2))))
    net.to(backend, "float64")
    for param in net.parameters().values():  # non-zero biases, so no symmetry hides an error
        param.data += Random(3).normal(backend, param.shape, std=0.3, dtype="float64")
    return net


def gauss_newton_diagonal(model, loss, x, t):
    """Σ_o h_o (∂y_o/∂θ)² for every parameter θ, with h = loss.curvature() over the batch
    and the Jacobian ∂y/∂θ by central differences."""
    xp = array_namespace(x)
    model.train()
    loss.forward(model.forward(x), t)
    h = loss.curvature()
    result = {}
    for name, param in model.parameters().items():
        jacobian = numerical_jacobian(lambda: model.forward(x), param.data)
        weights = xp.reshape(h, tuple(h.shape) + (1,) * param.data.ndim)
        result[name] = xp.sum(weights * jacobian ** 2, axis=tuple(range(h.ndim)))
    return result


@pytest.mark.parametrize("chunk_size", [3, 100])
def test_curvature_matches_finite_difference_gauss_newton(backend_name, chunk_size):
    backend = get_backend(backend_name)
    net = _tiny_network(backend)
    x = Random(4).normal(backend, (8, 4), dtype="float64")
    t = Random(5).normal(backend, (8, 3), dtype="float64")
    optimizer = SDLM(net.parameters(), lr=0.1, chunk_size=chunk_size)
    optimizer.estimate_curvature(net, MeanSquaredError(), x, t)
    expected = gauss_newton_diagonal(net, MeanSquaredError(), x, t)
    for (name, param), state in zip(net.parameters().items(), optimizer.state):
        assert_close(state["curvature"], expected[name], f"h[{name}]", rtol=1e-6, atol=1e-10)
        # the parameter shows the estimate the step uses
        np.testing.assert_array_equal(to_numpy(param.curvature), to_numpy(state["curvature"]))
    assert float(backend.xp.min(optimizer.state[0]["curvature"])) > 0


def test_curvature_is_the_mean_per_sample_curvature():
    """The mean-over-batch loss makes h an average: one batch of N = the mean of N
    single-sample estimates (what the paper averages over its 500 samples)."""
    backend = get_backend("cpu")
    net = _tiny_network(backend)
    x = Random(4).normal(backend, (6, 4), dtype="float64")
    t = Random(5).normal(backend, (6, 3), dtype="float64")
    whole = SDLM(net.parameters(), lr=0.1, chunk_size=6)
    whole.estimate_curvature(net, MeanSquaredError(), x, t)
    singles = []
    for n in range(6):
        one = SDLM(net.parameters(), lr=0.1)
        one.estimate_curvature(net, MeanSquaredError(), x[n:n + 1, ...], t[n:n + 1, ...])
        singles.append([to_numpy(s["curvature"]) for s in one.state])
    for i, state in enumerate(whole.state):
        mean = np.mean([s[i] for s in singles], axis=0)
        np.testing.assert_allclose(to_numpy(state["curvature"]), mean, rtol=1e-12)


def test_step_is_eta_over_mu_plus_h_times_g(backend_name):
    backend = get_backend(backend_name)
    w0, g, h = np.array([1.0, -2.0, 0.5]), np.array([0.3, -0.1, 2.0]), np.array([0.0, 0.5, 3.0])
    weight = Parameter(backend.asarray(w0))
    bias = Parameter(backend.asarray(w0), decay=False)
    optimizer = SDLM([weight, bias], lr=0.01, mu=0.02, lr_scale=4, weight_decay=0.1)
    weight.grad = bias.grad = backend.asarray(g)
    with pytest.raises(RuntimeError, match="before_epoch"):
        optimizer.step()
    optimizer.flat_state["curvature"] = optimizer.flat.concat([backend.asarray(h)] * 2)
    optimizer.step()
    # η·B/(μ + h + λ) (g + λw) for the decayed weight; η·B/(μ + h) g for the bias
    np.testing.assert_allclose(to_numpy(weight.data),
                               w0 - 0.04 / (0.02 + h + 0.1) * (g + 0.1 * w0), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(bias.data), w0 - 0.04 / (0.02 + h) * g, rtol=1e-12)


def test_epoch_summary_is_the_range_of_per_sample_step_sizes(backend_name):
    """rate = η/(μ + h + λ) over the trainable entries; a mask's fixed zeros do not count."""
    backend = get_backend(backend_name)
    weight = Parameter(backend.asarray(np.ones(3)))
    masked = Parameter(backend.asarray(np.ones(3)), mask=backend.asarray(np.array([1.0, 0.0, 1.0])))
    bias = Parameter(backend.asarray(np.ones(2)), decay=False)
    optimizer = SDLM([weight, masked, bias], lr=0.01, mu=0.02, lr_scale=16, weight_decay=0.1)
    assert optimizer.epoch_summary() == {}
    curvatures = {id(weight): [0.5, 1.0, 4.0], id(masked): [0.1, 0.0, 0.2], id(bias): [3.0, 9.0]}
    optimizer.flat_state["curvature"] = optimizer.flat.concat(
        [backend.asarray(np.array(curvatures[id(param)])) for param in optimizer.params])
    summary = optimizer.epoch_summary()
    # largest: masked's h = 0.1 (its unconnected h = 0 is left out); smallest: bias's h = 9
    assert summary["rate_max"] == pytest.approx(0.01 / (0.02 + 0.1 + 0.1))
    assert summary["rate_min"] == pytest.approx(0.01 / (0.02 + 9.0))


def _conv_dataset(backend, n=40):
    images = Random(6).normal(backend, (n, 1, 6, 6), dtype="float64")
    labels = backend.asarray(np.arange(n) % 3)
    return DeviceDataset(images, labels, backend)


def _conv_network(backend):
    return Sequential(("C1", Conv2d(1, 2, 3, init="lecun_uniform", random=Random(1))),
                      ("A1", ScaledTanh()), ("S2", Subsample2d(2, random=Random(2))),
                      ("A2", ScaledTanh()), ("flatten", Flatten()),
                      ("F", Linear(8, 3, init="lecun_uniform", random=Random(3)))).to(backend, "float64")


def test_before_epoch_averages_over_a_fresh_random_subset():
    backend = get_backend("cpu")
    dataset = _conv_dataset(backend)
    net = _conv_network(backend)
    loss = SoftmaxCrossEntropy()
    # all samples: the subset is the whole set, in some order; the chunking must not matter
    full = SDLM(net.parameters(), lr=0.1, samples=1000, chunk_size=7)
    full.before_epoch(net, loss, dataset)
    direct = SDLM(net.parameters(), lr=0.1, chunk_size=40)
    direct.estimate_curvature(net, loss, dataset.images, dataset.labels)
    for a, b in zip(full.state, direct.state):
        np.testing.assert_allclose(to_numpy(a["curvature"]), to_numpy(b["curvature"]), rtol=1e-10)
    # a subset of 10: a different estimate each epoch, equal to the estimate on those samples
    sampled = SDLM(net.parameters(), lr=0.1, samples=10, random=Random(9))
    sampled.before_epoch(net, loss, dataset)
    first = [to_numpy(s["curvature"]).copy() for s in sampled.state]
    chosen = Random(9).permutation(40)[:10]
    check = SDLM(net.parameters(), lr=0.1)
    check.estimate_curvature(net, loss, dataset.images[np.sort(chosen)], dataset.labels[np.sort(chosen)])
    for a, b in zip(first, check.state):
        np.testing.assert_allclose(a, to_numpy(b["curvature"]), rtol=1e-10)
    sampled.before_epoch(net, loss, dataset)
    assert not np.allclose(first[0], to_numpy(sampled.state[0]["curvature"]))


def test_sdlm_trains_a_small_network(backend_name):
    """The trainer with SDLM and a piecewise schedule learns labels set by a teacher network."""
    backend = get_backend(backend_name)
    images = Random(0).normal(backend, (120, 1, 6, 6), dtype="float64")
    teacher = Sequential(Conv2d(1, 2, 3, random=Random(7)), ScaledTanh(),
                         Subsample2d(2, random=Random(8)), ScaledTanh(), Flatten(),
                         Linear(8, 3, random=Random(9))).to(backend, "float64").eval()
    labels = backend.xp.argmax(teacher.forward(images), axis=1)
    dataset = DeviceDataset(images, labels, backend)
    net = _conv_network(backend)
    loss = SoftmaxCrossEntropy()
    before, _ = evaluate(net, loss, dataset)
    optimizer = SDLM(net.parameters(), lr=2e-3, samples=50, lr_scale=10)
    trainer = Trainer(TrainingStep(net, loss), optimizer, Feed(dataset, 10, Random(1)),
                      schedules.Piecewise([(4, 2e-3), (1, 1e-3)]))
    history = trainer.run(6)
    after, accuracy = evaluate(net, loss, dataset)
    assert after < 0.3 * before and accuracy > 0.9
    assert history[0].lr == 2e-3 and history[-1].lr == 1e-3
    # each epoch records the step sizes of its curvature estimate, bounded by η/μ
    for stats in history:
        rates = stats.optimizer
        assert 0 < rates["rate_min"] <= rates["rate_max"] <= stats.lr / 0.02
        assert f"rates {rates['rate_min']:.1e}..{rates['rate_max']:.1e}" in stats.line(6)


def _f6_rbf_head(backend, prototypes=None, second_order=False):
    from lenet_xp.layers import EuclideanRBF

    return Sequential(("F6", Linear(5, 84, init="lecun_uniform", random=Random(1))),
                      ("A6", ScaledTanh()),
                      ("RBF", EuclideanRBF(prototypes=prototypes, second_order=second_order))
                      ).to(backend, "float64")


def test_gauss_newton_through_the_rbf_layer_and_map_loss():
    """ScaledTanh → RBF → MAP: the curvature reaching the F6 weights is the finite-difference
    GN diagonal (each weight w_kj reaches y_i through x6_k only, so the diagonal is exact)."""
    from lenet_xp.layers.digit_bitmaps import load_digit_bitmaps

    backend = get_backend("cpu")
    # prototypes close to F6's small outputs: penalties near 0, so q(1 − q) is not negligible
    net = _f6_rbf_head(backend, prototypes=0.05 * load_digit_bitmaps("float64"))
    x = Random(2).normal(backend, (4, 5), std=0.2, dtype="float64")
    labels = backend.asarray(np.array([1, 7, 3, 3]))
    loss = MAPLoss(j=1.0)
    optimizer = SDLM(net.parameters(), lr=1e-3)
    optimizer.estimate_curvature(net, loss, x, labels)
    loss.forward(net.forward(x), labels)
    h = to_numpy(loss.curvature())
    jacobian = to_numpy(numerical_jacobian(lambda: net.forward(x), net["F6"].weight.data))
    expected = np.einsum("no,no...->...", h, jacobian ** 2)
    assert expected.max() > 1e-3
    np.testing.assert_allclose(to_numpy(optimizer.state[0]["curvature"]), expected, rtol=1e-5,
                               atol=1e-12)


def test_rbf_second_order_gives_f6_the_curvature_of_the_mse_criterion():
    """With the paper's bitmaps every penalty is large, the MAP loss is y_D + const, and
    with second_order=True F6 sees the GN curvature of (1/N) Σ_n ‖x6_n − w_D‖²: 2/N per
    output, h(w_kj) = Σ_n (2/N) (∂x6_nk/∂w_kj)²; the Gauss-Newton rule alone gives ~0."""
    backend = get_backend("cpu")
    x = Random(2).normal(backend, (4, 5), std=3.0, dtype="float64")
    labels = backend.asarray(np.array([1, 7, 3, 3]))
    plain = _f6_rbf_head(backend)
    sdlm_plain = SDLM(plain.parameters(), lr=1e-3)
    sdlm_plain.estimate_curvature(plain, MAPLoss(), x, labels)
    assert float(np.max(to_numpy(sdlm_plain.state[0]["curvature"]))) < 1e-20
    net = _f6_rbf_head(backend, second_order=True)
    optimizer = SDLM(net.parameters(), lr=1e-3)
    optimizer.estimate_curvature(net, MAPLoss(), x, labels)
    features = Sequential(net["F6"], net["A6"])
    jacobian = to_numpy(numerical_jacobian(lambda: features.forward(x), net["F6"].weight.data))
    expected = (2.0 / 4) * np.einsum("no...->...", jacobian ** 2)
    np.testing.assert_allclose(to_numpy(optimizer.state[0]["curvature"]), expected, rtol=1e-5)
    assert float(np.min(expected)) > 0


def test_recipe_builds_sdlm_with_the_paper_defaults():
    params = {"w": Parameter(np.zeros(3))}
    optimizer = make_optimizer(Recipe(optimizer="sdlm", lr=5e-4, batch_size=16), params)
    assert isinstance(optimizer, SDLM)
    assert (optimizer.lr, optimizer.mu, optimizer.samples, optimizer.lr_scale) == (5e-4, 0.02, 500, 16)
    custom = make_optimizer(Recipe(optimizer="sdlm", sdlm_mu=0.1, sdlm_samples=50), params)
    assert (custom.mu, custom.samples) == (0.1, 50)
    with pytest.raises(ValueError, match="sdlm_mu"):
        Recipe().replace(sdlm_mu=0.0)


def test_curvature_is_saved_and_restored_with_the_state():
    backend = get_backend("cpu")
    net = _tiny_network(backend)
    optimizer = SDLM(net.parameters(), lr=0.1)
    optimizer.estimate_curvature(net, MeanSquaredError(), Random(4).normal(backend, (5, 4), dtype="float64"),
                                 Random(5).normal(backend, (5, 3), dtype="float64"))
    resumed = SDLM(net.parameters(), lr=0.5)
    resumed.load_state_dict(optimizer.state_dict())
    assert resumed.lr == 0.1
    for a, b in zip(optimizer.state, resumed.state):
        np.testing.assert_array_equal(to_numpy(a["curvature"]), to_numpy(b["curvature"]))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="mu > 0"):
        SDLM([Parameter(np.zeros(2))], lr=0.1, mu=0.0)
