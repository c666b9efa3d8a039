"""The model zoo: the paper's LeNet-5 and its sigmoid variant, the Theano tutorial's LeNet and
Saito's deep CNN: parameter counts, shapes, whole-model gradients, curvature, recipes."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.layers import Dropout, EuclideanRBF
from lenet_xp.layers.digit_bitmaps import load_digit_bitmaps
from lenet_xp.losses import MAPLoss, RBFCrossEntropy, SoftmaxCrossEntropy
from lenet_xp.models import MODELS, get_model
from lenet_xp.models.lenet5_paper import C3_TABLE
from lenet_xp.models.recipe import make_optimizer, make_schedule
from lenet_xp.optim import SDLM

from layer_cases import FrozenMaskRandom

ZOO = ["lenet5_paper", "lenet5_sigmoid", "lenet_theano", "deep_cnn"]

PAPER_COUNTS = {"C1": 156, "S2": 12, "C3": 1516, "S4": 32, "C5": 48120, "F6": 10164}
TOTALS = {"lenet5_paper": 60_000, "lenet5_sigmoid": 60_000, "lenet_theano": 431_080,
          "deep_cnn": 123_552}


def layer_counts(model) -> dict:
    counts: dict = {}
    for name, param in model.parameters().items():
        layer = name.split(".")[0]
        counts[layer] = counts.get(layer, 0) + param.size
    return counts


@pytest.mark.parametrize("name", ["lenet5_paper", "lenet5_sigmoid"])
def test_paper_parameter_counts(name):
    model = get_model(name).build(Random(0))
    assert layer_counts(model) == PAPER_COUNTS
    assert model.num_parameters() == 60_000
    rbf = model["RBF"]
    assert isinstance(rbf, EuclideanRBF) and rbf.parameters() == {}
    np.testing.assert_array_equal(to_numpy(rbf.prototypes), to_numpy(load_digit_bitmaps()))


@pytest.mark.parametrize("name", ZOO)
def test_total_parameter_counts(name):
    assert get_model(name).build(Random(0)).num_parameters() == TOTALS[name]


def test_c3_follows_table_1():
    table = np.array(C3_TABLE)
    assert table.shape == (16, 6)
    assert list(table.sum(axis=1)) == [3] * 6 + [4] * 9 + [6]
    # maps 0-5: 3 contiguous inputs, 6-11: 4 contiguous (wrapping round), 12-14: 4 others
    for f in range(6):
        assert {c for c in range(6) if table[f, c]} == {f % 6, (f + 1) % 6, (f + 2) % 6}
        assert {c for c in range(6) if table[6 + f, c]} == {(f + k) % 6 for k in range(4)}
    assert [tuple(np.flatnonzero(table[f])) for f in (12, 13, 14)] == [(0, 1, 3, 4), (1, 2, 4, 5),
                                                                       (0, 2, 3, 5)]
    assert list(table.sum(axis=0)) == [10] * 6  # each S2 map feeds 10 C3 maps
    c3 = get_model("lenet5_paper").build(Random(0))["C3"]
    weight, mask = to_numpy(c3.weight.data), to_numpy(c3.weight.mask)
    assert c3.weight.size == 1500 and c3.bias.size == 16
    np.testing.assert_array_equal(mask[:, :, 0, 0], table)
    assert np.all(weight[mask == 0] == 0)


def test_initialisation_is_lecun_uniform():
    """Weights uniform in ±2.4/F_in, where F_in is each unit's own fan-in (a C3 map's too)."""
    model = get_model("lenet5_paper").build(Random(0))
    fan_in = {"C1": 25, "C5": 400, "F6": 120}
    for layer, f in fan_in.items():
        w = to_numpy(model[layer].weight.data)
        assert np.abs(w).max() <= 2.4 / f and np.abs(w).max() > 0.9 * 2.4 / f
    c3 = to_numpy(model["C3"].weight.data)
    for f, row in enumerate(C3_TABLE):
        bound = 2.4 / (sum(row) * 25)
        assert np.abs(c3[f]).max() <= bound and np.abs(c3[f]).max() > 0.8 * bound


@pytest.mark.parametrize("name", ZOO)
def test_specs_and_output_shapes(name):
    spec = get_model(name)
    assert spec.input_size == (32 if name.startswith("lenet5") else 28)
    assert spec.normalisation == ("lecun" if name.startswith("lenet5") else "zero_one")
    spec.recipe.validate()
    model = spec.build(Random(0)).eval()
    x = Random(1).normal(get_backend("cpu"), (3, 1, spec.input_size, spec.input_size))
    y = model.forward(x)
    assert tuple(y.shape) == (3, 10)
    labels = to_numpy(spec.loss().predict(y))
    assert labels.shape == (3,) and labels.min() >= 0 and labels.max() <= 9


def test_losses_and_prediction_rules():
    assert isinstance(get_model("lenet5_paper").loss(), MAPLoss)
    assert isinstance(get_model("lenet5_sigmoid").loss(), RBFCrossEntropy)
    for name in ("lenet_theano", "deep_cnn"):
        assert isinstance(get_model(name).loss(), SoftmaxCrossEntropy)
    # the RBF models classify by the smallest penalty: an input equal to bitmap k -> k
    model = get_model("lenet5_paper").build(Random(0)).eval()
    head = model["RBF"]
    np.testing.assert_array_equal(to_numpy(MAPLoss.predict(head.forward(load_digit_bitmaps()))),
                                  np.arange(10))


def test_paper_recipe_is_sdlm_with_the_paper_schedule():
    recipe = get_model("lenet5_paper").recipe
    # the paper's μ is 0.02; 1.0 is the measured minimal change (see lenet5_paper.py)
    assert (recipe.optimizer, recipe.epochs, recipe.sdlm_mu, recipe.sdlm_samples) == ("sdlm", 20, 1.0, 500)
    assert recipe.batch_size == 1  # the paper's per-sample updates
    schedule = make_schedule(recipe)
    assert [schedule(e) for e in range(20)] == ([5e-4] * 2 + [2e-4] * 3 + [1e-4] * 3 + [5e-5] * 4
                                                + [1e-5] * 8)
    model = get_model("lenet5_paper").build(Random(0))
    optimizer = make_optimizer(recipe, model.parameters())
    assert isinstance(optimizer, SDLM) and optimizer.lr_scale == recipe.batch_size
    theano = get_model("lenet_theano").recipe
    assert theano.optimizer == "sgd" and theano.patience > 0


def test_deep_cnn_layout():
    model = get_model("deep_cnn").build(Random(0))
    # Saito's 21 layers: ours, less the Flatten (implicit in his Affine), plus the softmax
    # (inside the loss)
    assert len(model) - 1 + 1 == 21
    x = Random(1).normal(get_backend("cpu"), (2, 1, 28, 28))
    for name, layer in zip(model.names, model.layers):
        x = layer.forward(x)
        if name == "pool3":
            assert tuple(x.shape) == (2, 64, 4, 4)
    dropouts = [layer for layer in model.layers if isinstance(layer, Dropout)]
    assert [d.p for d in dropouts] == [0.5, 0.5] and model.names[-1] == "dropout2"
    # He initialisation: std √(2/F_in)
    w = to_numpy(model["conv6"].weight.data)
    assert np.std(w) == pytest.approx(np.sqrt(2 / (64 * 9)), rel=0.05)


# ---- whole-model gradient checks on a random subset of parameter entries ------------------

def check_model_gradient(model, loss, x, targets, *, entries: int = 3, seed: int = 0,
                         eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-8) -> int:
    """Compare backward's dE/dθ with central differences of E at ``entries`` random entries
    of every parameter (connected entries only, for masked ones); returns how many."""
    rng = np.random.default_rng(seed)
    model.train()
    loss.forward(model.forward(x), targets)
    model.backward(loss.backward())
    checked = 0
    for name, param in model.parameters().items():
        grad = to_numpy(param.grad)
        candidates = np.argwhere(np.ones(param.shape) if param.mask is None else to_numpy(param.mask))
        for flat in rng.choice(len(candidates), size=min(entries, len(candidates)), replace=False):
            index = tuple(int(i) for i in candidates[flat])
            original = float(param.data[index])  # a number, not a view (torch)
            param.data[index] = original + eps
            plus = float(loss.forward(model.forward(x), targets))
            param.data[index] = original - eps
            minus = float(loss.forward(model.forward(x), targets))
            param.data[index] = original
            numerical = (plus - minus) / (2 * eps)
            assert abs(grad[index] - numerical) <= atol + rtol * abs(numerical), (
                f"{name}{list(index)}: backward {grad[index]:.10g}, finite differences {numerical:.10g}")
            checked += 1
    return checked


def tiny_batch(name, backend, n: int = 2):
    """(model in float64 on ``backend``, loss, n random inputs, labels) for ``name``, with
    dropout masks frozen, for finite differences."""
    spec = get_model(name)
    model = spec.build(Random(0), "float64").to(backend, "float64")
    for layer in model.layers:
        if isinstance(layer, Dropout):
            layer.random = FrozenMaskRandom(3)  # the same mask at every forward pass
    if name == "lenet_theano":  # the output layer starts at 0, which would hide the rest
        logistic = model["logistic"].weight
        logistic.data = Random(4).normal(backend, logistic.shape, std=0.1, dtype="float64")
    x = Random(1).normal(backend, (n, 1, spec.input_size, spec.input_size), dtype="float64")
    labels = backend.asarray(np.array([3, 8, 1, 5, 0, 9, 2, 7, 4, 6][:n]))
    return model, spec.loss(), x, labels


@pytest.mark.parametrize("name", ZOO)
def test_whole_model_gradient(name, backend_name):
    model, loss, x, labels = tiny_batch(name, get_backend(backend_name))
    # The RBF models' losses come from penalties ~100, whose rounding (~1e-14) over 2·eps
    # would swamp small gradients at eps = 1e-6; they are smooth, so a larger eps is exact
    # enough. ReLU and max-pooling models keep a small eps, clear of their kinks.
    eps = 1e-4 if name.startswith("lenet5") else 1e-6
    checked = check_model_gradient(model, loss, x, labels, eps=eps)
    assert checked == 3 * len(model.parameters())


def check_model_curvature(model, loss, x, labels) -> SDLM:
    """Run SDLM's curvature estimate through the whole model and assert every h_kk is finite
    and ≥ 0 (0 where a connection mask is); returns the optimiser."""
    optimizer = SDLM(model.parameters(), lr=1e-3)
    optimizer.estimate_curvature(model, loss, x, labels)
    for (param_name, param), state in zip(model.parameters().items(), optimizer.state):
        h = to_numpy(state["curvature"])
        assert h.shape == param.shape and np.all(np.isfinite(h)) and np.all(h >= 0), param_name
        if param.mask is not None:
            assert np.all(h[to_numpy(param.mask) == 0] == 0)
    return optimizer


@pytest.mark.parametrize("name", ZOO)
def test_curvature_pass_runs_through_every_model(name):
    optimizer = check_model_curvature(*tiny_batch(name, get_backend("cpu")))
    # the paper's network passes real curvature down to C1 (the RBF's own term at work)
    if name == "lenet5_paper":
        assert float(np.mean(to_numpy(optimizer.state[0]["curvature"]))) > 1e-6


def test_every_zoo_model_is_registered():
    assert set(ZOO) <= set(MODELS)


def test_the_recipe_init_replaces_the_models_own_where_it_can():
    spec = get_model("lenet5")
    own = spec.make(Random(0), "float64")
    same = spec.build(Random(0), "float64")
    assert np.array_equal(to_numpy(own.state_dict()["C1.weight"]), to_numpy(same.state_dict()["C1.weight"]))
    tiny = spec.make(Random(0), "float64", init="gaussian:0.01")
    for name, value in tiny.state_dict().items():
        if name.endswith("weight"):
            assert to_numpy(value).std() == pytest.approx(0.01, rel=0.15), name
    he = get_model("deep_cnn").make(Random(0), "float64", init="xavier_uniform")
    weight = to_numpy(he.state_dict()["conv1.weight"])  # fan-in 9, fan-out 16·9
    assert np.abs(weight).max() <= np.sqrt(6 / (9 + 144))
    with pytest.raises(ValueError, match="'lenet5_paper' has its own initialisation.*deep_cnn"):
        get_model("lenet5_paper").make(Random(0), init="he_normal")
    with pytest.raises(ValueError, match="unknown initialiser 'glorot'"):
        spec.recipe.replace(init="glorot")
