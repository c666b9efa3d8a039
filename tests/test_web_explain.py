"""lenet_xp.web.explain on every zoo model: one stage per layer that a reader sees, each with
its sentence and formula, and parameters that reproduce the layer: a unit computed from the
stage below and the parameters the page receives (as the page's inspector computes it) is
the unit the network computed."""

from __future__ import annotations

import base64

import numpy as np
import pytest

import lenet_xp
from lenet_xp.models import MODELS
from lenet_xp.web.explain import activations, network_json, shown_layers
from web_server import untrained_zoo


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return untrained_zoo(tmp_path_factory.mktemp("zoo"))


def _array(sent: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(sent["data"]), "<f4").reshape(sent["shape"])


def _digit() -> np.ndarray:
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:17] = 255
    digit[4:8, 6:22] = 200
    return digit


def _unit(stage: dict, params: dict, below: np.ndarray, c: int, r: int, q: int) -> float:
    """Unit (c, r, q) of a maps stage from the stage below and the parameters, as the page's
    inspector (static/layers.js) computes it."""
    op = stage["op"]
    kind = op["type"]
    if kind == "conv":
        k, s, p = op["kernel"], op["stride"], op["padding"]
        padded = np.pad(below, ((0, 0), (p, p), (p, p)))
        window = padded[:, r * s:r * s + k, q * s:q * s + k]
        reads = op["reads"][c]
        return float(params["bias"][c] + np.sum(params["weight"][c, reads] * window[reads]))
    if kind in ("max", "mean", "subsample"):
        k, s = op["kernel"], op["stride"]
        window = below[c, r * s:r * s + k, q * s:q * s + k]
        if kind == "max":
            return float(window.max())
        if kind == "mean":
            return float(window.mean())
        return float(params["bias"][c] + params["coefficient"][c] * window.sum())
    if kind == "repeat":
        return float(below[c // op["copies"], r, q])
    x = below[c, r, q]
    if kind == "relu":
        return max(0.0, float(x))
    if kind == "scaled_tanh":
        return op["amplitude"] * np.tanh(op["slope"] * x)
    if kind == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if kind == "batchnorm":
        g, b, m, v = (params[n][c] for n in ("gamma", "beta", "mean", "var"))
        return g * (x - m) / np.sqrt(v + op["eps"]) + b
    if kind == "zoom":
        matrix = params["matrix"]
        return float(matrix[r] @ below[c] @ matrix[q])
    raise AssertionError(f"no unit rule for {kind}")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_stage_is_said_and_reproduced(zoo, name):
    model = lenet_xp.load_model(zoo[name])
    stages = network_json(model)
    values, outputs = activations(model, _digit())
    names = [n for n, _ in shown_layers(model)]
    assert [s["name"] for s in stages] == ["input", *names, "scores"]
    assert len(values) == len(stages)
    for stage, value in zip(stages, values):
        assert stage["sentence"] and stage["formula"], stage["name"]
        assert list(value.shape) == stage["shape"], stage["name"]
    np.testing.assert_allclose(values[-1], model.predictions(outputs).scores[0], rtol=1e-6)
    rng = np.random.default_rng(0)
    checked = 0
    for index, stage in enumerate(stages[1:], start=1):
        below, here = values[index - 1], values[index]
        params = {key: _array(sent) for key, sent in stage["params"].items()}
        if stage["kind"] == "maps":
            for _ in range(5):
                c, r, q = (int(rng.integers(n)) for n in here.shape)
                assert _unit(stage, params, below, c, r, q) == pytest.approx(
                    float(here[c, r, q]), rel=1e-4, abs=1e-5), (stage["name"], c, r, q)
                checked += 1
        if stage["op"]["type"] == "rbf":
            np.testing.assert_allclose(((below[None, :] - params["prototypes"]) ** 2).sum(1), here,
                                       rtol=1e-4)
            checked += 1
    assert checked >= 10


def test_the_sentences_say_shape_and_formula(zoo):
    stages = {s["name"]: s for s in network_json(lenet_xp.load_model(zoo["lenet5"]))}
    assert stages["C1"]["sentence"] == ("6 kernels of 5×5 slide over the 32×32 input: 6 maps "
                                        "of 28×28")
    assert stages["C1"]["formula"] == "y = b + Σ w·x"
    assert stages["S2"]["formula"] == "y = max x" and stages["A2"]["formula"] == "y = max(0, x)"
    assert stages["input"]["sentence"].startswith("The 28×28 digit, padded to 32×32")
    paper = {s["name"]: s for s in network_json(lenet_xp.load_model(zoo["lenet5_paper"]))}
    assert "each reading 3, 4 or 6 of them (a connection table)" in paper["C3"]["sentence"]
    assert paper["A1"]["formula"] == "y = 1.7159 tanh(0.6667 x)"
    assert paper["RBF"]["formula"] == "y_i = Σ_j (x_j − w_ij)²"
    assert "none of these" in paper["scores"]["sentence"] and paper["scores"]["op"]["j"] == 5
    simard = {s["name"]: s for s in network_json(lenet_xp.load_model(zoo["simard_cnn"]))}
    assert "2 pixels at a time" in simard["conv1"]["sentence"]
    deep = {s["name"]: s for s in network_json(lenet_xp.load_model(zoo["deep_cnn"]))}
    assert "with a border of 1 zero" in deep["conv1"]["sentence"]
    assert [n for n in deep if n.startswith("dropout")] == [], "dropout changes nothing shown"
