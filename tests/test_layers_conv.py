"""Conv2d against a direct loop-over-pixels reference, the sparse table, and the skipped dx."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import Random, get_backend, to_numpy
from lenet_xp.layers import Conv2d, Linear, Sequential, col2im, im2col
from lenet_xp.layers.conv import block_size, block_weight, unblock_weight

from layer_cases import SPARSE_TABLE


def reference_conv(x, w, b, stride, padding):
    """Plain numpy: y[n, f, p, q] = b[f] + Σ w[f, c, i, j] x_pad[n, c, p·s + i, q·s + j]."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, _, h, wd = x.shape
    f, _, k, _ = w.shape
    oh, ow = (h - k) // stride + 1, (wd - k) // stride + 1
    y = np.empty((n, f, oh, ow))
    for p in range(oh):
        for q in range(ow):
            patch = x[:, :, p * stride:p * stride + k, q * stride:q * stride + k]
            y[:, :, p, q] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return y


@pytest.mark.parametrize("channels", [3, 1])  # one channel: the two-pass input copy
@pytest.mark.parametrize("stride,padding,size", [(1, 0, 7), (2, 1, 8), (1, 2, 5), (3, 0, 9),
                                                 (1, 0, 3)])  # last: one window, the whole input
def test_forward_matches_direct_convolution(backend_name, window_path, stride, padding, size,
                                            channels):
    backend = get_backend(backend_name)
    conv = Conv2d(channels, 4, 3, stride=stride, padding=padding, random=Random(0)).to(backend, "float64")
    conv.bias.data[...] = backend.asarray(np.arange(4.0))
    x = Random(1).normal(backend, (2, channels, size, size), dtype="float64")
    expected = reference_conv(to_numpy(x), to_numpy(conv.weight.data), np.arange(4.0), stride, padding)
    np.testing.assert_allclose(to_numpy(conv.forward(x)), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("channels,stride,padding,size,block", [(1, 1, 0, 10, 4), (1, 2, 1, 8, 4),
                                                               (3, 1, 0, 10, 2), (3, 2, 1, 8, 2)])
def test_blocked_forward_matches_direct_convolution(backend_name, channels, stride, padding, size, block):
    backend = get_backend(backend_name)
    conv = Conv2d(channels, 4, 3, stride=stride, padding=padding, block=block,
                  random=Random(0)).to(backend, "float64")
    conv.bias.data[...] = backend.asarray(np.arange(4.0))
    x = Random(1).normal(backend, (2, channels, size, size), dtype="float64")
    expected = reference_conv(to_numpy(x), to_numpy(conv.weight.data), np.arange(4.0), stride, padding)
    np.testing.assert_allclose(to_numpy(conv.forward(x)), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride,padding,size", [(1, 0, 7), (2, 1, 8), (1, 2, 5), (1, 0, 3)])
def test_the_gathered_path_gives_the_sliced_paths_numbers(backend_name, monkeypatch, stride,
                                                          padding, size):
    """Where operations cost their launch, the same outputs and gradients come from one gather
    (im2col) and a correlation of the spread-out dy (dx); that path is the one taken."""
    backend = get_backend(backend_name)
    x = Random(1).normal(backend, (3, 2, size, size), dtype="float64")
    results = {}
    for gathered in (False, True):
        monkeypatch.setattr(backend, "launch_bound", gathered)
        conv = Conv2d(2, 4, 3, stride=stride, padding=padding, random=Random(0)).to(backend, "float64")
        conv.needs_input_grad = True
        y = conv.forward(x)
        dy = Random(2).normal(backend, tuple(y.shape), dtype="float64")
        dx = conv.backward(dy)
        assert conv._gathered is gathered
        results[gathered] = [to_numpy(a) for a in (y, dx, conv.weight.grad, conv.bias.grad)]
    for sliced, gathered in zip(results[False], results[True]):
        np.testing.assert_allclose(gathered, sliced, rtol=1e-12, atol=1e-12)


def test_blocks_are_chosen_for_thin_products_with_large_columns():
    # C1 (25 inputs per output, 28×28 outputs): blocks of 4 from batch 27 on
    assert [block_size(25, 28, 28, n) for n in (1, 16, 26, 27, 256)] == [1, 1, 1, 4, 4]
    # C3 (150, 10×10): blocks of 2 from batch 35; 4 does not divide 10 anyway
    assert [block_size(150, 10, 10, n) for n in (16, 34, 35, 256)] == [1, 1, 2, 2]
    assert block_size(25, 6, 6, 10**4) == 2  # 4 does not divide 6
    assert block_size(500, 8, 8, 10**4) == 1  # lenet_theano's second layer: too wide
    assert block_size(25, 5, 5, 10**5) == 1  # an odd width takes no block


def test_a_fixed_block_must_divide_the_output_width():
    conv = Conv2d(1, 2, 3, block=4, random=Random(0))
    with pytest.raises(ValueError, match="block=4 does not divide the output width 6"):
        conv.forward(np.zeros((1, 1, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="block must be >= 1"):
        Conv2d(1, 2, 3, block=0)


@pytest.mark.parametrize("size,stride,padding,block", [(7, 2, 1, 1), (3, 1, 0, 1), (10, 1, 1, 2),
                                                       (9, 2, 2, 3), (10, 1, 1, 5)])
def test_col2im_is_the_adjoint_of_im2col(backend_name, size, stride, padding, block):
    """<im2col(x), c> = <x, col2im(c)> for all x, c: the defining property of the backward."""
    backend = get_backend(backend_name)
    x = Random(2).normal(backend, (2, 3, size, size), dtype="float64")
    cols, _ = im2col(x, 3, 3, stride=stride, padding=padding, block=block)
    assert cols.shape[0] == 3 * 3 * (3 + stride * (block - 1))
    c = Random(3).normal(backend, tuple(cols.shape), dtype="float64")
    left = float(backend.xp.sum(cols * c))
    dx = col2im(c, tuple(x.shape), 3, 3, stride=stride, padding=padding, block=block)
    right = float(backend.xp.sum(x * dx))
    assert left == pytest.approx(right, rel=1e-12)


@pytest.mark.parametrize("block,stride", [(1, 1), (4, 1), (3, 2)])
def test_blocked_columns_and_weights_give_the_plain_product(backend_name, block, stride):
    """block_weight(W) @ im2col(x, block) holds, for each block of B outputs, the same numbers
    as W @ im2col(x); unblock_weight is block_weight's adjoint."""
    backend = get_backend(backend_name)
    xp = backend.xp
    x = Random(2).normal(backend, (2, 2, 14, 14), dtype="float64")
    w = Random(3).normal(backend, (3, 2, 3, 3), dtype="float64")
    plain_cols, (oh, ow) = im2col(x, 3, 3, stride=stride)
    plain = xp.reshape(xp.matmul(xp.reshape(w, (3, -1)), plain_cols), (3, oh, ow // block, block, 2))
    cols, _ = im2col(x, 3, 3, stride=stride, block=block)
    blocked = xp.reshape(xp.matmul(block_weight(w, block, stride), cols), (3, block, oh, ow // block, 2))
    np.testing.assert_allclose(to_numpy(blocked), np.moveaxis(to_numpy(plain), 3, 1), rtol=1e-12)
    g = Random(4).normal(backend, (3 * block, 2 * 3 * (3 + stride * (block - 1))), dtype="float64")
    left = float(xp.sum(block_weight(w, block, stride) * g))
    right = float(xp.sum(w * unblock_weight(g, tuple(w.shape), block, stride)))
    assert left == pytest.approx(right, rel=1e-12)


def test_sparse_table_counts_only_connections_and_keeps_zeros():
    conv = Conv2d(3, 4, 3, connections=SPARSE_TABLE, random=Random(0))
    weight = to_numpy(conv.weight.data)
    links = np.array(SPARSE_TABLE)
    assert conv.weight.size == links.sum() * 9
    assert np.all(weight[links == 0] == 0) and np.all(weight[links == 1] != 0)


def test_sparse_table_shape_is_checked():
    with pytest.raises(ValueError, match="connection table has shape"):
        Conv2d(3, 4, 3, connections=[[1, 1, 1]])


def test_first_layer_of_a_network_skips_the_input_gradient():
    net = Sequential(Conv2d(1, 2, 3, random=Random(0)))
    x = Random(1).normal(get_backend("cpu"), (2, 1, 5, 5))
    y = net.forward(x)
    assert net.backward(np.ones_like(y)) is None
    assert net.parameters()["0.weight"].grad is not None
    net.needs_input_grad = True
    assert net.backward(np.ones_like(y)).shape == x.shape


def test_wrong_input_shape_is_a_clear_error():
    conv = Conv2d(3, 4, 3, random=Random(0))
    with pytest.raises(ValueError, match=r"expects input \(N, 3, H, W\), got \(2, 1, 8, 8\)"):
        conv.forward(np.zeros((2, 1, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="smaller than the 3-wide window"):
        conv.forward(np.zeros((2, 3, 2, 2), dtype=np.float32))


def test_without_bias_there_is_no_bias_parameter():
    x = Random(2).normal(get_backend("cpu"), (2, 2, 6, 6), dtype="float64")
    for with_bias, without in [(Conv2d(2, 3, 3, stride=2, random=Random(1), dtype="float64"),
                                Conv2d(2, 3, 3, stride=2, random=Random(1), dtype="float64", bias=False)),
                               (Linear(72, 4, random=Random(1), dtype="float64"),
                                Linear(72, 4, random=Random(1), dtype="float64", bias=False))]:
        assert list(without.parameters()) == ["weight"] and "bias=False" in repr(without)
        inputs = x if isinstance(with_bias, Conv2d) else np.reshape(x, (2, 72))
        np.testing.assert_array_equal(to_numpy(without.forward(inputs)),
                                      to_numpy(with_bias.forward(inputs)))  # b starts at 0
        dy = np.ones(tuple(with_bias.forward(inputs).shape))
        with_bias.backward(dy)
        without.backward(dy)
        np.testing.assert_array_equal(to_numpy(without.weight.grad), to_numpy(with_bias.weight.grad))
        assert without.bias is None
