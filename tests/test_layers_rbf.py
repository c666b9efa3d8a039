"""EuclideanRBF (LeNet-5's output layer) and the digit bitmaps it uses as prototypes."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.gradcheck import check_backward, check_curvature
from lenet_xp.layers import EuclideanRBF
from lenet_xp.layers.digit_bitmaps import (digit_bitmap_rows, load_digit_bitmaps,
                                           parse_digit_bitmaps, render_digit_bitmaps)
from lenet_xp.tools.plots import plot_digit_bitmaps

from layer_cases import RBF_PROTOTYPES


def _layer(backend_name, trainable=False):
    backend = get_backend(backend_name)
    layer = EuclideanRBF(6, 4, prototypes=RBF_PROTOTYPES, trainable=trainable).to(backend, "float64")
    x = Random(3).normal(backend, (5, 6), std=1.5, dtype="float64")
    return backend, layer, x


def test_forward_is_the_squared_distance_to_each_prototype(backend_name):
    _, layer, x = _layer(backend_name)
    w = np.array(RBF_PROTOTYPES, dtype=np.float64)
    expected = ((to_numpy(x)[:, None, :] - w[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(to_numpy(layer.forward(x)), expected, rtol=1e-13)


@pytest.mark.parametrize("trainable", [False, True])
def test_backward_and_curvature_match_finite_differences(backend_name, trainable):
    _, layer, x = _layer(backend_name, trainable)
    check_backward(layer, x)
    check_curvature(layer, x)


def test_backward_formula(backend_name):
    """dx = 2 Σ_i dy_i (x − w_i), d2x = 4 Σ_i h_i (x − w_i)², dW = −2 Σ_n dy (x − w)."""
    backend, layer, x = _layer(backend_name, trainable=True)
    layer.forward(x)
    dy = Random(4).normal(backend, (5, 4), dtype="float64")
    difference = to_numpy(x)[:, None, :] - np.array(RBF_PROTOTYPES, dtype=np.float64)[None]
    g = to_numpy(dy)[:, :, None]
    np.testing.assert_allclose(to_numpy(layer.backward(dy)), 2 * (g * difference).sum(1), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(layer.prototypes.grad), -2 * (g * difference).sum(0), rtol=1e-12)
    h = to_numpy(dy) ** 2
    np.testing.assert_allclose(to_numpy(layer.backward_curvature(dy * dy)),
                               4 * (h[:, :, None] * difference ** 2).sum(1), rtol=1e-12)


def test_default_prototypes_are_fixed_digit_bitmaps():
    layer = EuclideanRBF()
    assert layer.parameters() == {} and layer.buffer_names == ("prototypes",)
    np.testing.assert_array_equal(to_numpy(layer.prototypes), to_numpy(load_digit_bitmaps()))
    moved = layer.to("array_api_strict", "float64")
    assert "array_api_strict" in type(moved.prototypes).__module__
    assert moved.prototypes.dtype == get_backend("array_api_strict").xp.float64
    # a prototype's own bitmap is at distance 0 from it, and is its nearest one
    y = to_numpy(EuclideanRBF().forward(load_digit_bitmaps()))
    np.testing.assert_array_equal(np.diag(y), np.zeros(10))
    np.testing.assert_array_equal(y.argmin(axis=1), np.arange(10))


def test_fixed_prototypes_get_no_gradient_but_trainable_ones_do(backend_name):
    backend, fixed, x = _layer(backend_name)
    fixed.forward(x)
    fixed.backward(Random(0).normal(backend, (5, 4), dtype="float64"))
    assert fixed.parameters() == {}
    _, trainable, x = _layer(backend_name, trainable=True)
    assert set(trainable.parameters()) == {"prototypes"}
    assert trainable.prototypes.size == 24 and not trainable.prototypes.decay


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="pass prototypes="):
        EuclideanRBF(10, 3)
    with pytest.raises(ValueError, match="expected \\(out_features, in_features\\)"):
        EuclideanRBF(5, 4, prototypes=RBF_PROTOTYPES)
    with pytest.raises(ValueError, match="expects input"):
        EuclideanRBF().forward(np.zeros((2, 80), dtype=np.float32))
    with pytest.raises(RuntimeError, match="before a training-mode forward"):
        EuclideanRBF().backward(np.zeros((2, 10), dtype=np.float32))


# ---- the bitmaps --------------------------------------------------------------------------

def test_bitmaps_are_ten_distinct_plus_minus_one_vectors_of_84():
    bitmaps = to_numpy(load_digit_bitmaps())
    assert bitmaps.shape == (10, 84) and bitmaps.dtype == np.float32
    assert set(np.unique(bitmaps)) == {-1.0, 1.0}
    hamming = (bitmaps[:, None, :] != bitmaps[None, :, :]).sum(axis=2)
    off_diagonal = hamming[~np.eye(10, dtype=bool)]
    assert off_diagonal.min() >= 10, "two prototypes are too close to tell apart"
    # every digit has ink, and every bitmap has the blank top row and two blank bottom rows
    images = bitmaps.reshape(10, 12, 7)
    assert (images == 1).sum(axis=(1, 2)).min() >= 15
    assert np.all(images[:, [0, 10, 11], :] == -1)


def test_bitmaps_read_row_major_from_the_text_file():
    rows = digit_bitmap_rows()
    assert len(rows) == 10 and all(len(r) == 12 and all(len(line) == 7 for line in r) for r in rows)
    bitmaps = to_numpy(load_digit_bitmaps("float64"))
    for digit in range(10):
        expected = [1.0 if ch == "#" else -1.0 for line in rows[digit] for ch in line]
        np.testing.assert_array_equal(bitmaps[digit], expected)


def test_render_shows_each_digit_and_round_trips():
    text = render_digit_bitmaps()
    lines = text.splitlines()
    assert len(lines) == 13 and lines[0].split() == [str(d) for d in range(10)]
    rows = digit_bitmap_rows()
    for digit in range(10):
        column = [line[digit * 9:digit * 9 + 7] for line in lines[1:]]
        assert column == rows[digit]
    again = "\n".join(f"{d}\n" + "\n".join(line[d * 9:d * 9 + 7] for line in lines[1:])
                      for d in range(10))
    assert parse_digit_bitmaps(again) == rows
    # any (K, 84) array renders: ink where > 0
    two = render_digit_bitmaps(np.stack([np.ones(84), -np.ones(84)]), gap=1)
    assert two.splitlines()[1] == "#######" + " " + "......."


@pytest.mark.parametrize("text, message", [
    ("0\n" + ".......\n" * 11, "fewer than 12 rows"),
    ("0\n" + "......\n", "rows are 7 characters"),
    (".......\n", "before any digit"),
    ("".join(f"{d}\n" + ".......\n" * 12 for d in range(9)), "need the digits 0-9"),
])
def test_parse_errors_are_clear(text, message):
    if "fewer" in message:
        text += "".join(f"{d}\n" + ".......\n" * 12 for d in range(1, 10))
    with pytest.raises(ValueError, match=message):
        parse_digit_bitmaps(text)


def test_plot_without_matplotlib_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'lenet_xp\[plot\]'"):
        plot_digit_bitmaps(load_digit_bitmaps(), tmp_path / "b.png")
    assert not list(tmp_path.iterdir())


# ---- the layer's own second derivative (second_order=True) ---------------------------------

def test_second_order_curvature_is_the_map_hessian_diagonal_up_to_the_dropped_term(backend_name):
    """For E = MAP(RBF(x)), d²E/dx_j² = (1/N)[2(1 − Σ_i q_i) + Σ_i 4 q_i d_ij² − s_j²] with
    s_j = Σ_i 2 q_i d_ij. The layer gives GN + own term = (1/N)[2(1 − Σ q) + Σ 4 q(1 − q) d²],
    i.e. the exact diagonal plus (s_j² − Σ_i 4 q_i² d_ij²)/N."""
    from lenet_xp.gradcheck import numerical_jacobian
    from lenet_xp.losses import MAPLoss

    backend = get_backend(backend_name)
    layer = EuclideanRBF(6, 4, prototypes=RBF_PROTOTYPES, second_order=True).to(backend, "float64")
    layer.needs_input_grad = True
    x = Random(3).normal(backend, (5, 6), std=0.6, dtype="float64")
    labels = backend.asarray(np.array([0, 1, 2, 3, 1]))
    loss = MAPLoss(j=2.0)
    loss.forward(layer.forward(x), labels)
    layer.backward(loss.backward())
    d2x = to_numpy(layer.backward_curvature(loss.curvature()))

    def gradient():
        loss.forward(layer.forward(x), labels)
        return layer.backward(loss.backward())

    exact = np.einsum("ijij->ij", to_numpy(numerical_jacobian(gradient, x)))
    loss.forward(layer.forward(x), labels)
    q = to_numpy(loss._q)
    d = to_numpy(x)[:, None, :] - np.array(RBF_PROTOTYPES, dtype=np.float64)[None]
    s = (2 * q[:, :, None] * d).sum(axis=1)
    dropped = (s ** 2 - (4 * q[:, :, None] ** 2 * d ** 2).sum(axis=1)) / 5
    np.testing.assert_allclose(d2x, exact + dropped, rtol=1e-6, atol=1e-9)
    assert np.all(d2x > 0)


def test_second_order_term_for_trainable_prototypes(backend_name):
    """d2W[i, j] = 4 Σ_n h d² + 2 max(Σ_n dy[n, i], 0): the second term alone when h = 0."""
    backend = get_backend(backend_name)
    layer = EuclideanRBF(6, 4, prototypes=RBF_PROTOTYPES, trainable=True,
                         second_order=True).to(backend, "float64")
    x = Random(3).normal(backend, (5, 6), dtype="float64")
    layer.forward(x)
    dy = Random(4).normal(backend, (5, 4), dtype="float64")
    layer.backward(dy)
    d2x = to_numpy(layer.backward_curvature(backend.xp.zeros_like(dy)))
    np.testing.assert_allclose(d2x, np.repeat(2 * np.maximum(to_numpy(dy).sum(1), 0)[:, None], 6, 1))
    np.testing.assert_allclose(to_numpy(layer.prototypes.curvature),
                               np.repeat(2 * np.maximum(to_numpy(dy).sum(0), 0)[:, None], 6, 1))


def test_second_order_needs_a_gradient_pass_after_each_forward():
    layer = EuclideanRBF(second_order=True)
    x = Random(0).normal(get_backend("cpu"), (2, 84))
    layer.forward(x)
    with pytest.raises(RuntimeError, match="call backward"):
        layer.backward_curvature(np.ones((2, 10), dtype=np.float32))
    layer.backward(np.ones((2, 10), dtype=np.float32))
    layer.backward_curvature(np.ones((2, 10), dtype=np.float32))
    layer.forward(x)  # a new forward pass forgets the old gradient
    with pytest.raises(RuntimeError, match="call backward"):
        layer.backward_curvature(np.ones((2, 10), dtype=np.float32))
