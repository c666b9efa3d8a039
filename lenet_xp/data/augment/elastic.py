"""Simard et al.'s elastic distortions, drawn on the device: per image a field of U(−1, 1)
displacements, smoothed by a Gaussian of standard deviation σ and scaled by α, resampled by
:func:`warp` (conventions: :mod:`lenet_xp.data.augment`)."""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from ...backend import Random, backend_of
from .warp import warp

# the smoothing matrices on the device, by (backend name, dtype, size, sigma): a run meets a
# handful of shapes, so the cache stays small
_FIELD_MATRICES: dict = {}


def gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """The (size, size) float64 smoothing matrix G of a Gaussian of std ``sigma`` pixels.

    G[i, k] = exp(−(i − k)² / 2σ²) / Σ_k' exp(−(i − k')² / 2σ²), k and k' in [0, size): each
    row is the kernel truncated at the edges and renormalised, so rows sum to 1 and a constant
    signal stays constant. ``G @ f`` smooths f along its first axis.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    d = np.arange(size)[:, None] - np.arange(size)[None, :]
    kernel = np.exp(-0.5 * (d / sigma) ** 2)
    return kernel / kernel.sum(axis=1, keepdims=True)


#: Elastic fields smoothed by σ of at least FIELD_SPACING_FROM are drawn one number per 2x2
#: pixels (a quarter of the random numbers, the costliest part of a field); see
#: :func:`field_matrix`.
FIELD_SPACING_FROM = 4.0


def field_matrix(size: int, sigma: float) -> np.ndarray:
    """The (size, m) float64 matrix F that smooths one axis of an elastic field drawn on m
    grid points: F = G, the per-pixel Gaussian (:func:`gaussian_matrix`, m = size), for σ <
    :data:`FIELD_SPACING_FROM` or an odd size; else the draws sit one per pair of pixels
    (m = size/2 points z_k = 2k + ½) and F[i, k] ∝ exp(−(i − z_k)² / 2σ²), each row scaled so
    that Σ_k F[i, k]² = Σ_k G[i, k]².

    The smoothed field is a Gaussian process either way; the row scaling gives it the very
    variance of the per-pixel field at every pixel, and its correlations differ by a
    Riemann-sum error, at most 0.3 % of the variance for σ >= 4 (tested).
    """
    fine = gaussian_matrix(size, sigma)
    if sigma < FIELD_SPACING_FROM or size % 2:
        return fine
    centres = 2 * np.arange(size // 2) + 0.5  # the middles of pixel pairs (0, 1), (2, 3), ...
    coarse = np.exp(-0.5 * ((np.arange(size)[:, None] - centres[None, :]) / sigma) ** 2)
    scale = np.sqrt((fine ** 2).sum(axis=1) / (coarse ** 2).sum(axis=1))
    return coarse * scale[:, None]


def elastic_field(images, random: Random, *, alpha: float, sigma: float):
    """Simard et al.'s displacement field for a batch: (N, C, H, W) -> d (N, 2, H, W).

    d_n = α · F_H U_n F_Wᵀ per image n and component (dy, dx), with U_n uniform in [−1, 1]
    drawn on the images' device (``random.uniform_like``) and F the smoothing matrices of
    :func:`field_matrix` (the Gaussian of std σ; for σ >= 4, U on every second pixel), built
    once per shape on the device. Same dtype as ``images``; one field per image, shared by its
    channels. For σ = 4 the smoothed U has a std of about 0.05 at 28-32 pixels (0.041 far from
    the edges), so d's is about α/20.

    U is drawn as one (h, 2N, w) block (its entries are independent, so any layout will do),
    so that smoothing along H is one matrix product F_H (H, h) @ (h, 2N·w) and along W
    another, (H·2N, w) @ F_Wᵀ. The result is an (N, 2, H, W) view of that block.
    """
    xp = array_namespace(images)
    n, _, h, w = images.shape
    backend = backend_of(images)
    fh = _device_field_matrix(backend, h, sigma, images.dtype)
    fw = _device_field_matrix(backend, w, sigma, images.dtype)
    grid_h, grid_w = fh.shape[1], fw.shape[1]
    u = random.uniform_like(xp.empty((grid_h, 2 * n, grid_w), dtype=images.dtype,
                                     device=backend.device))
    u -= 0.5  # U(−1, 1) = 2·(u − ½); the 2 and α are folded into the small F_H
    along_h = (fh * (2.0 * alpha)) @ xp.reshape(u, (grid_h, 2 * n * grid_w))
    field = xp.reshape(along_h, (h * 2 * n, grid_w)) @ xp.matrix_transpose(fw)
    return xp.permute_dims(xp.reshape(field, (h, n, 2, w)), (1, 2, 0, 3))


def elastic(images, random: Random, *, alpha: float, sigma: float):
    """Simard et al.'s elastic distortion: images (N, C, H, W) -> (N, C, H, W).

    Each image is resampled at p + d(p), d from :func:`elastic_field` (a smoothed U(−1, 1)
    field of std σ pixels, scaled by α pixels). ``alpha == 0`` returns ``images`` itself.
    """
    if alpha == 0:
        return images
    return warp(images, field=elastic_field(images, random, alpha=alpha, sigma=sigma))


def _device_field_matrix(backend, size: int, sigma: float, dtype):
    key = (backend.name, dtype, size, float(sigma))
    if key not in _FIELD_MATRICES:
        _FIELD_MATRICES[key] = backend.asarray(field_matrix(size, sigma), dtype=dtype)
    return _FIELD_MATRICES[key]
