"""Host preprocessing: padding, binarising, the normalisation modes, validation splits."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.data.preprocess import (
    PixelStats,
    binarise,
    normalise,
    pad_images,
    pixel_stats,
    validation_split,
)


def _images(n=6, size=28, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size), dtype=np.uint8)


def test_pad_shape_and_centring():
    images = _images(3)
    padded = pad_images(images, 32)
    assert padded.shape == (3, 32, 32) and padded.dtype == np.uint8
    np.testing.assert_array_equal(padded[:, 2:30, 2:30], images)
    border = padded.copy()
    border[:, 2:30, 2:30] = 0
    assert not border.any()


def test_pad_odd_margin_goes_bottom_right():
    padded = pad_images(np.full((1, 2, 2), 9, dtype=np.uint8), 5)
    assert padded.shape == (1, 5, 5)
    np.testing.assert_array_equal(np.argwhere(padded[0] == 9), [[1, 1], [1, 2], [2, 1], [2, 2]])


def test_pad_to_same_size_and_too_small():
    images = _images(2)
    np.testing.assert_array_equal(pad_images(images, 28), images)
    with pytest.raises(ValueError, match="cannot pad 28x28 images to 20x20"):
        pad_images(images, 20)


def test_lecun_exact_values():
    pixels = np.array([0, 255, 51], dtype=np.uint8)  # 51 = 255 / 5
    out = normalise(pixels, "lecun")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [-0.1, 1.175, -0.1 + 1.275 / 5], rtol=1e-6)


def test_lecun_padding_is_background():
    out = normalise(pad_images(np.full((1, 28, 28), 255, dtype=np.uint8), 32), "lecun")
    np.testing.assert_allclose(out[0, 0, :], -0.1, rtol=1e-6)
    np.testing.assert_allclose(out[0, 2:30, 2:30], 1.175, rtol=1e-6)


@pytest.mark.parametrize("mode, low, high", [("zero_one", 0.0, 1.0), ("minus_one_one", -1.0, 1.0)])
def test_range_modes(mode, low, high):
    out = normalise(np.array([0, 255], dtype=np.uint8), mode)
    np.testing.assert_allclose(out, [low, high], atol=1e-7)


def test_standard_uses_train_stats():
    train, test = _images(20, seed=1), _images(5, seed=2)
    stats = pixel_stats(train)
    train_out = normalise(train, "standard", stats)
    assert abs(float(train_out.mean(dtype=np.float64))) < 1e-5
    assert abs(float(train_out.std(dtype=np.float64)) - 1.0) < 1e-5
    expected = (test.astype(np.float64) - train.mean()) / train.std()
    np.testing.assert_allclose(normalise(test, "standard", stats), expected, rtol=1e-5, atol=1e-5)


def test_pixel_stats_match_numpy():
    images = _images(4)
    stats = pixel_stats(images)
    assert stats.mean == pytest.approx(images.mean(), rel=1e-12)
    assert stats.std == pytest.approx(images.std(), rel=1e-12)


def test_float64_output():
    assert normalise(_images(1), "zero_one", dtype="float64").dtype == np.float64


def test_normalise_errors():
    images = _images(1)
    with pytest.raises(ValueError, match="stats=pixel_stats"):
        normalise(images, "standard")
    with pytest.raises(ValueError, match="std > 0"):
        normalise(images, "standard", PixelStats(mean=3.0, std=0.0))
    with pytest.raises(ValueError, match="unknown normalisation 'unit'.*lecun"):
        normalise(images, "unit")
    with pytest.raises(TypeError, match="uint8"):
        normalise(images.astype(np.float32), "lecun")


def test_binarise():
    out = binarise(np.array([[0, 127, 128, 255]], dtype=np.uint8), 128)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 0, 255, 255]])


@pytest.mark.parametrize("n, val_size", [(100, 10), (7, 0), (5, 4)])
def test_validation_split_disjoint_complete(n, val_size):
    train_idx, val_idx = validation_split(n, val_size, seed=3)
    assert len(val_idx) == val_size and len(train_idx) == n - val_size
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(n))
    assert np.all(np.diff(train_idx) > 0) and np.all(np.diff(val_idx) > 0)


def test_validation_split_seeded():
    same = [validation_split(1000, 100, seed=5)[1] for _ in range(2)]
    np.testing.assert_array_equal(same[0], same[1])
    assert not np.array_equal(same[0], validation_split(1000, 100, seed=6)[1])


@pytest.mark.parametrize("val_size", [-1, 10, 11])
def test_validation_split_bad_size(val_size):
    with pytest.raises(ValueError, match="val_size must be in 0..9 for 10 training examples"):
        validation_split(10, val_size, seed=0)
