"""Augmentation: whole-pixel random shifts, and random affine and elastic distortions
(bounded, seeded, exact where they must be, the same numbers on every backend)."""

from __future__ import annotations

import numpy as np
import pytest

from lenet_xp.backend import STAGED_ROWS, Random, get_backend, to_numpy
from lenet_xp.data import random_shift
from lenet_xp.data.augment import (
    DISTORTION_KINDS,
    FIELD_SPACING_FROM,
    Distortion,
    affine_maps,
    distortion_examples,
    elastic,
    elastic_field,
    field_matrix,
    gaussian_matrix,
    random_affine,
    random_maps,
    warp,
)

from backends import device_params


def _images(backend):
    host = np.zeros((16, 1, 12, 12), dtype=np.float32)
    host[:, :, 4:8, 4:8] = np.arange(16, dtype=np.float32).reshape(16, 1, 1, 1) + 1
    return host, backend.asarray(host)


def test_each_image_is_its_own_roll_within_the_bound(backend_name):
    host, images = _images(get_backend(backend_name))
    shifted = to_numpy(random_shift(images, 2, Random(0), groups=4))
    shifts = set()
    for original, moved in zip(host, shifted):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(np.roll(original, (dy, dx), axis=(1, 2)), moved)]
        assert matches, "every output is the input rolled by at most 2 pixels"
        shifts.add(matches[0])
    assert len(shifts) > 1, "groups get different shifts"


class FixedShift(Random):
    """Every group moved by the same (dy, dx)."""

    def __init__(self, dy, dx):
        super().__init__(0)
        self.move = (dy, dx)

    def integers(self, low, high, size):
        return np.tile(np.array(self.move), (size[0], 1))


def test_a_digit_touching_the_frame_repeats_its_edge(backend_name):
    backend = get_backend(backend_name)
    host = np.zeros((2, 1, 6, 6), dtype=np.float32)
    host[:, :, 0, :] = 1.0  # ink on the top row
    host[:, :, :, 5] = 2.0  # and on the right column
    moved = to_numpy(random_shift(backend.asarray(host), 1, FixedShift(1, -1), groups=2))
    expected = np.empty_like(host)
    expected[:, :, 1:, :5] = host[:, :, :5, 1:]  # down 1, left 1
    expected[:, :, :1, :] = host[:, :, :1, :]  # the top strip repeats the top row
    expected[:, :, :, 5:] = host[:, :, :, 5:]  # the right strip repeats the right column
    np.testing.assert_array_equal(moved, expected)


def test_same_seed_same_shifts_and_zero_is_identity(backend_name):
    _, images = _images(get_backend(backend_name))
    first = to_numpy(random_shift(images, 3, Random(5)))
    np.testing.assert_array_equal(to_numpy(random_shift(images, 3, Random(5))), first)
    assert random_shift(images, 0, Random(5)) is images


# ---- distortions: helpers ------------------------------------------------------------------------

def _maps(n, shift=None, scale=0.0, squeeze=0.0, shear=0.0, rotation=0.0):
    """affine_maps with the same parameters for all n images (shift (dy, dx) may vary)."""
    shift = np.zeros((n, 2)) if shift is None else np.broadcast_to(shift, (n, 2))
    full = [np.full(n, float(v)) for v in (scale, squeeze, shear, rotation)]
    return affine_maps(shift, *full)


def _warp(backend, host_images, host_maps=None, host_field=None):
    """warp on ``backend`` from host inputs, back on the host."""
    images = backend.asarray(host_images)
    maps = None if host_maps is None else backend.asarray(host_maps, dtype=images.dtype)
    field = None if host_field is None else backend.asarray(host_field, dtype=images.dtype)
    return to_numpy(warp(images, maps, field))


def _ramps(n, size):
    """(n, 2, size, size) float32: channel 0 is the row index i, channel 1 the column index j.
    Bilinear sampling of a linear image is exact, so a warp of it reads out its source points."""
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.broadcast_to(np.stack([i, j]).astype(np.float32), (n, 2, size, size)).copy()


def _fitted_maps(warped_ramps, region):
    """The affine maps [A | t] (N, 2, 3) that best explain warped ramps on ``region`` (a slice of
    rows and columns where nothing was clamped), fitted by least squares."""
    _, _, h, w = warped_ramps.shape
    i, j = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    design = np.stack([i[region].ravel(), j[region].ravel(), np.ones(i[region].size)], axis=1)
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    fitted = []
    for points in warped_ramps:  # (2, H, W): the source (y, x) of every output pixel
        targets = np.stack([points[0][region].ravel(), points[1][region].ravel()], axis=1) - centre
        solution, *_ = np.linalg.lstsq(design, targets, rcond=None)
        fitted.append(solution.T)
    return np.array(fitted)


def _digits(n=6, size=16, pad=4):
    """(n, 1, size, size) float32 random 'digits': ink inside, ``pad`` pixels of background 0."""
    host = np.zeros((n, 1, size, size), dtype=np.float32)
    inside = np.random.default_rng(3).random((n, 1, size - 2 * pad, size - 2 * pad))
    host[:, :, pad:size - pad, pad:size - pad] = inside
    return host


# ---- distortions: identity, exactness ------------------------------------------------------------

def test_identity_parameters_return_the_batch_itself(backend_name):
    images = get_backend(backend_name).asarray(_digits())
    random = Random(0)
    assert random_affine(images, random) is images
    assert elastic(images, random, alpha=0.0, sigma=4.0) is images
    assert warp(images) is images
    assert Distortion()(images, random) is images  # kind "none"
    zero = dict(shift=0.0, scale=0.0, squeeze=0.0, shear=0.0, rotation=0.0, alpha=0.0)
    for kind in DISTORTION_KINDS:
        assert Distortion(kind, **zero)(images, random) is images
    assert random.host.bit_generator.state == Random(0).host.bit_generator.state, "nothing drawn"


def test_whole_pixel_translation_equals_a_roll(backend_name):
    host = _digits(n=8, pad=4)
    shifts = np.array([(0, 0), (1, 0), (0, -1), (2, 3), (-3, 2), (-4, -4), (4, 1), (-1, 4)])
    moved = _warp(get_backend(backend_name), host, _maps(8, shift=shifts))
    for original, out, (dy, dx) in zip(host, moved, shifts):
        # the border is background, so rolling it around is the same as moving it in
        np.testing.assert_array_equal(out, np.roll(original, (dy, dx), axis=(1, 2)))


def test_affine_maps_invert_the_documented_forward_map():
    rng = np.random.default_rng(0)
    n = 10
    shift = rng.uniform(-2, 2, (n, 2))
    scale, squeeze, shear = rng.uniform(-0.3, 0.3, (3, n))
    rotation = rng.uniform(-30, 30, n)
    maps = affine_maps(shift, scale, squeeze, shear, rotation)
    for k in range(n):  # forward, in (y, x): scale, squeeze, shear, rotate, then translate
        s, q, theta = 1 + scale[k], 1 + squeeze[k], np.deg2rad(rotation[k])
        forward = (np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
                   @ np.array([[1.0, 0.0], [shear[k], 1.0]])
                   @ np.diag([1 / q, q]) @ np.diag([s, s]))
        np.testing.assert_allclose(maps[k, :, :2] @ forward, np.eye(2), atol=1e-12)
        # the forward map sends the centre to centre + shift; the inverse brings it back
        np.testing.assert_allclose(maps[k, :, :2] @ shift[k] + maps[k, :, 2], 0.0, atol=1e-12)


@pytest.mark.parametrize("size", [9, 10])
def test_rotation_by_90_degrees_is_rot90(backend_name, size):
    host = np.random.default_rng(1).random((3, 1, size, size)).astype(np.float32)
    backend = get_backend(backend_name)
    for degrees, k in ((90, 1), (-90, -1), (180, 2)):
        rotated = _warp(backend, host, _maps(3, rotation=degrees))
        np.testing.assert_allclose(rotated, np.rot90(host, k, axes=(2, 3)), atol=1e-6,
                                   err_msg=f"positive angles turn counterclockwise: {degrees}")


def test_scale_2_magnifies_about_the_centre(backend_name):
    host = np.random.default_rng(2).random((1, 1, 9, 9)).astype(np.float32)
    big = _warp(get_backend(backend_name), host, _maps(1, scale=1.0))[0, 0]  # factor 1 + 1
    image, c = host[0, 0], 4
    assert big[c, c] == image[c, c]
    np.testing.assert_allclose(big[c + 2, c - 2], image[c + 1, c - 1], rtol=1e-6)
    np.testing.assert_allclose(big[c + 1, c], (image[c, c] + image[c + 1, c]) / 2, rtol=1e-6)
    np.testing.assert_allclose(big[c + 1, c + 1], image[c:c + 2, c:c + 2].mean(), rtol=1e-6)


def test_bilinear_sampling_is_exact_on_a_linear_ramp(backend_name):
    n, size = 8, 16
    host = _ramps(n, size)
    maps = random_maps(n, Random(4), shift=1.5, scale=0.2, squeeze=0.2, shear=0.3, rotation=20)
    out = _warp(get_backend(backend_name), host, maps)
    # where the maps are sampled: q = A (p − c) + c + t, on the host in float64
    c = (size - 1) / 2
    i, j = np.meshgrid(np.arange(size) - c, np.arange(size) - c, indexing="ij")
    source = np.einsum("nkm,mp->nkp", maps, np.stack([i.ravel(), j.ravel(), np.ones(i.size)]))
    source = source.reshape(n, 2, size, size) + c
    inside = ((source >= 0) & (source <= size - 1)).all(axis=1, keepdims=True)
    assert inside.mean() > 0.5
    np.testing.assert_allclose(np.where(inside, out, 0), np.where(inside, source, 0), atol=1e-4)
    # outside, the source point is clamped into the image (edge replication)
    np.testing.assert_allclose(out, np.clip(source, 0, size - 1), atol=1e-4)


# ---- distortions: seeds and backends -------------------------------------------------------------

def test_same_seed_gives_the_same_distortions(backend_name):
    images = get_backend(backend_name).asarray(_digits())
    for kind in ("affine", "elastic", "affine+elastic"):
        distortion = Distortion(kind, rotation=10.0)
        first = to_numpy(distortion(images, Random(7)))
        np.testing.assert_array_equal(to_numpy(distortion(images, Random(7))), first)
        assert not np.array_equal(to_numpy(distortion(images, Random(8))), first)


def test_affine_matches_numpy_on_other_backends(other_backend_name):
    host = _digits()
    distortion = Distortion("affine", rotation=10.0)
    expected = to_numpy(distortion(get_backend("cpu").asarray(host), Random(3)))
    other = to_numpy(distortion(get_backend(other_backend_name).asarray(host), Random(3)))
    np.testing.assert_allclose(other, expected, rtol=1e-6, atol=1e-6)


def test_elastic_matches_numpy_on_array_api_strict():
    # CuPy draws the field with its own generator: other numbers, the same distribution
    host = _digits()
    for kind in ("elastic", "affine+elastic"):
        distortion = Distortion(kind, alpha=20.0, sigma=3.0)
        expected = to_numpy(distortion(get_backend("cpu").asarray(host), Random(3)))
        strict = to_numpy(distortion(get_backend("array_api_strict").asarray(host), Random(3)))
        np.testing.assert_allclose(strict, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("device", device_params("apart"))
def test_runs_on_a_device_other_than_the_host(device):
    """On array_api_strict's device1 (which refuses any silent trip to numpy), PyTorch's tensors
    and GPUs: the distorted batch stays where the batch is."""
    backend = get_backend(device)
    images = backend.asarray(_digits())
    for kind in ("affine", "elastic", "affine+elastic"):
        out = Distortion(kind, rotation=10.0)(images, Random(0))
        assert out.device == images.device


# ---- distortions: the elastic field --------------------------------------------------------------

@pytest.mark.parametrize("size, sigma", [(7, 1.0), (32, 4.0), (28, 6.0), (5, 1e3)])
def test_gaussian_matrix_rows_sum_to_one_and_keep_constants(size, sigma):
    g = gaussian_matrix(size, sigma)
    np.testing.assert_allclose(g.sum(axis=1), 1.0, rtol=1e-12)
    constant = np.full((size, size + 3), 2.5)
    np.testing.assert_allclose(g @ constant @ gaussian_matrix(size + 3, sigma).T, constant,
                               rtol=1e-12)
    middle = size // 2  # an interior row is the Gaussian, peaked on the diagonal
    assert g[middle].argmax() == middle and (g > 0).all()


def test_wider_smoothing_flattens_the_field(backend_name):
    images = get_backend(backend_name).asarray(np.zeros((16, 1, 32, 32), dtype=np.float32))
    spread = {}
    for sigma in (1.0, 4.0, 8.0, 1e4):
        field = to_numpy(elastic_field(images, Random(0), alpha=1.0, sigma=sigma))
        assert field.shape == (16, 2, 32, 32) and field.dtype == np.float32
        spread[sigma] = field.std(axis=(2, 3)).mean()  # within each image and component
    assert spread[1.0] > spread[4.0] > spread[8.0] > 1e3 * spread[1e4]
    # U(-1, 1) has std 0.577; a 2-D Gaussian of std 4 divides it by about 4·sqrt(4π) = 14,
    # a little less near the edges: the field is small, which is why alpha is large
    assert 0.035 < spread[4.0] < 0.07


def test_elastic_displacement_scales_linearly_with_alpha(backend_name):
    backend = get_backend(backend_name)
    host = _ramps(6, 20)
    images = backend.asarray(host)
    interior = (slice(None), slice(None), slice(3, -3), slice(3, -3))  # never clamped here
    moved = {}
    for alpha in (2.0, 4.0):
        out = to_numpy(elastic(images, Random(5), alpha=alpha, sigma=4.0))
        field = to_numpy(elastic_field(images, Random(5), alpha=alpha, sigma=4.0))
        moved[alpha] = (out - host)[interior]  # the ramps read out each pixel's displacement
        np.testing.assert_allclose(moved[alpha], field[interior], atol=1e-4)
    np.testing.assert_allclose(moved[4.0], 2 * moved[2.0], atol=1e-4)
    assert 0.02 < np.abs(moved[2.0]).mean() < 0.3


# ---- distortions: dtype, shapes, channels, ranges ------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_and_shape_are_kept_and_channels_share_the_map(backend_name, dtype):
    backend = get_backend(backend_name)
    host = np.repeat(_digits(n=5, size=12, pad=3), 3, axis=1).astype(dtype)  # 3 equal channels
    images = backend.asarray(host, dtype=backend.dtype(dtype))
    for kind in ("affine", "elastic", "affine+elastic"):
        out = Distortion(kind, rotation=10.0)(images, Random(1))
        assert out.dtype == images.dtype and out.shape == images.shape
        out = to_numpy(out)
        assert not np.allclose(out, host)
        np.testing.assert_array_equal(out[:, 1], out[:, 0])
        np.testing.assert_array_equal(out[:, 2], out[:, 0])


@pytest.mark.parametrize("ranges", [{"shift": 2.0}, {"scale": 0.2}, {"squeeze": 0.2},
                                    {"shear": 0.3}, {"rotation": 15.0}],
                         ids=lambda ranges: next(iter(ranges)))
def test_random_maps_stay_within_their_ranges(backend_name, ranges):
    n, size = 32, 16
    images = get_backend(backend_name).asarray(_ramps(n, size))
    out = to_numpy(random_affine(images, Random(2), **ranges))
    maps = _fitted_maps(out, (slice(5, 11), slice(5, 11)))  # clamping never reaches the middle
    a, t = maps[:, :, :2], maps[:, :, 2]
    (name, bound), = ranges.items()
    identity = np.broadcast_to(np.eye(2), (n, 2, 2))
    if name == "shift":  # a pure translation: the source is p − shift
        np.testing.assert_allclose(a, identity, atol=1e-4)
        amounts = -t
    else:
        np.testing.assert_allclose(t, 0.0, atol=1e-3)
        if name == "scale":  # A = I / (1 + u)
            np.testing.assert_allclose(a[:, 0, 1], 0.0, atol=1e-4)
            np.testing.assert_allclose(a[:, 0, 0], a[:, 1, 1], atol=1e-4)
            amounts = 1 / a[:, 0, 0] - 1
        elif name == "squeeze":  # A = diag(1 + u, 1 / (1 + u))
            np.testing.assert_allclose(a[:, 0, 0] * a[:, 1, 1], 1.0, atol=1e-4)
            amounts = a[:, 0, 0] - 1
        elif name == "shear":  # A = [[1, 0], [-u, 1]]
            np.testing.assert_allclose(a[:, [0, 0, 1], [0, 1, 1]], np.ones((n, 1)) * [1, 0, 1],
                                       atol=1e-4)
            amounts = -a[:, 1, 0]
        else:  # rotation: A = [[cos, sin], [-sin, cos]]
            np.testing.assert_allclose(a[:, 0, 0], a[:, 1, 1], atol=1e-4)
            np.testing.assert_allclose(a[:, 0, 1], -a[:, 1, 0], atol=1e-4)
            amounts = np.rad2deg(np.arctan2(a[:, 0, 1], a[:, 0, 0]))
    assert np.abs(amounts).max() <= bound + 1e-3
    assert np.abs(amounts).max() > 0.6 * bound, "the draws fill the range"
    assert len(np.unique(np.round(amounts, 3))) > n // 2, "each image its own map"


def test_distortion_composes_affine_and_elastic_in_one_resampling(backend_name):
    backend = get_backend(backend_name)
    images = backend.asarray(_digits())
    distortion = Distortion("affine+elastic", rotation=10.0, alpha=10.0, sigma=3.0)
    random = Random(9)
    # the maps of STAGED_ROWS images are made at once (Random.staged); the batch takes the first
    maps = random_maps(STAGED_ROWS, random, shift=2.0, scale=0.15, squeeze=0.15, shear=0.3,
                       rotation=10.0)[:6]
    maps = backend.asarray(maps, dtype=images.dtype)
    field = elastic_field(images, random, alpha=10.0, sigma=3.0)
    np.testing.assert_array_equal(to_numpy(distortion(images, Random(9))),
                                  to_numpy(warp(images, maps, field)))


def test_distortion_rejects_bad_settings():
    for bad in ({"kind": "rotate"}, {"kind": "affine", "scale": 1.0},
                {"kind": "affine", "shift": -1.0}, {"kind": "elastic", "sigma": 0.0}):
        with pytest.raises(ValueError):
            Distortion(**bad)


def test_distortion_examples_for_figures():
    digits = (255 * _digits(n=3, size=16)[:, 0]).astype(np.uint8)  # (N, H, W) uint8, as loaded
    examples = distortion_examples(digits, Random(0), Distortion("affine+elastic"), copies=4)
    assert isinstance(examples, np.ndarray) and examples.shape == (3, 4, 16, 16)
    assert not np.array_equal(examples[:, 0], examples[:, 1]), "each copy its own distortion"
    same = distortion_examples(digits, Random(0), Distortion(), copies=2)
    np.testing.assert_array_equal(same, np.repeat(digits[:, None], 2, axis=1))


@pytest.mark.parametrize("size, sigma", [(32, 4.0), (28, 4.0), (29, 5.0), (32, 8.0), (32, 3.0)])
def test_a_field_drawn_on_every_second_pixel_has_the_per_pixel_statistics(size, sigma):
    """The smoothed field's covariance per axis, F Fᵀ, against the per-pixel field's G Gᵀ:
    the same variance at every pixel, correlations within 0.3 % of it."""
    fine, used = gaussian_matrix(size, sigma), field_matrix(size, sigma)
    assert used.shape[1] == (size if sigma < FIELD_SPACING_FROM or size % 2 else size // 2)
    expected, actual = fine @ fine.T, used @ used.T
    np.testing.assert_allclose(np.diag(actual), np.diag(expected), rtol=1e-12)
    scale = np.sqrt(np.outer(np.diag(expected), np.diag(expected)))
    assert np.abs(actual - expected).max() / scale.min() < 3e-3 * scale.max() / scale.min()
