"""Random distortions of a batch, on its own device: affine maps and elastic fields.

LeCun et al. (1998) trained their best LeNet-5 on distorted copies of MNIST: random
translations, scalings, squeezings and horizontal shears. Simard, Steinkraus & Platt (2003)
added elastic distortions: per image, a field of U(−1, 1) displacements per pixel, smoothed by
a Gaussian of standard deviation σ and scaled by α (σ = 4, α = 34 on 29×29 digits).

Conventions. Coordinates are (y, x) = (row, column) in pixels, row 0 at the top; the centre is
c = ((H − 1)/2, (W − 1)/2), the middle of the pixel grid. A distortion is given by its
*inverse* map: output pixel p = (i, j) takes the input's value at the source point

    q = A_n (p − c) + c + t_n + d_n(p)

with ``maps`` = [A_n | t_n] (N, 2, 3) per image n and ``field`` = d_n (N, 2, H, W), sampled by
bilinear interpolation of q's four neighbours (:func:`warp`). Source points outside the image
are clamped into [0, H − 1] × [0, W − 1]: the edge is replicated, which fills with background
for padded MNIST, whose border rows and columns are background whatever the normalisation.

Random draws and the deterministic warp are separate: :func:`random_maps` draws the affine
parameters on the host (six numbers per image) and :func:`affine_maps` turns them into maps,
moved to the device with one transfer per batch; :func:`elastic_field` draws its per-pixel
field on the device (``Random.uniform_like``). Nothing comes back to the host per batch.
:class:`Distortion` is what a recipe asks for, and applies the affine map and the elastic
field together in one resampling pass.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from array_api_compat import array_namespace, device

from lenet_xp.backend import Random, backend_of, to_numpy

DISTORTION_KINDS = ("none", "affine", "elastic", "affine+elastic")

# device arrays that depend only on a shape: (backend name, dtype, ...) -> array(s); a run
# meets a handful of shapes, so the cache stays small
_DEVICE_CACHE: dict = {}


# ---- the affine part: drawn on the host --------------------------------------------------------

def affine_maps(shift, scale, squeeze, shear, rotation) -> np.ndarray:
    """Inverse maps [A | t] (N, 2, 3) float64 of the forward distortions given per image.

    shift (N, 2) pixels (dy, dx); scale, squeeze, shear (N,) relative amounts u; rotation (N,)
    degrees. The forward map, applied to the digit about the centre, is in this order:
    scale both axes by s = 1 + u; squeeze: x by q = 1 + u and y by 1/q; shear: x += u·(y − c_y);
    rotate by θ, counterclockwise as displayed (θ = 90° is ``np.rot90(image)``); translate by
    shift (the digit moves by (dy, dx)). In (y, x) coordinates the inverse is t = −A·shift and
    A = S⁻¹ Q⁻¹ H⁻¹ R⁻¹
      = (1/s)·diag(q, 1/q)·[[1, 0], [−u_shear, 1]]·[[cos θ, sin θ], [−sin θ, cos θ]].
    """
    shift = np.asarray(shift, dtype=np.float64)
    s = 1.0 + np.asarray(scale, dtype=np.float64)
    q = 1.0 + np.asarray(squeeze, dtype=np.float64)
    h = np.asarray(shear, dtype=np.float64)
    theta = np.deg2rad(np.asarray(rotation, dtype=np.float64))
    cos, sin = np.cos(theta), np.sin(theta)
    maps = np.empty((shift.shape[0], 2, 3))
    # the product above, multiplied out
    maps[:, 0, 0], maps[:, 0, 1] = q * cos / s, q * sin / s
    maps[:, 1, 0], maps[:, 1, 1] = -(h * cos + sin) / (q * s), (cos - h * sin) / (q * s)
    maps[:, :, 2] = -(maps[:, :, :2] @ shift[:, :, None])[:, :, 0]
    return maps


def random_maps(n: int, random: Random, *, shift=0.0, scale=0.0, squeeze=0.0, shear=0.0,
                rotation=0.0) -> np.ndarray | None:
    """n random inverse maps (n, 2, 3) float64 on the host, or None when every range is 0.

    Each parameter is uniform in ± its range, independently per image (see
    :func:`affine_maps` for their meaning). Draws n × 6 numbers from ``random.host`` whichever
    ranges are 0 (so changing one range changes no other parameter), none when all are.
    """
    _check_affine_ranges(shift, scale, squeeze, shear, rotation)
    if not any((shift, scale, squeeze, shear, rotation)):
        return None
    u = random.host.uniform(-1.0, 1.0, size=(n, 6))
    return affine_maps(u[:, 0:2] * shift, u[:, 2] * scale, u[:, 3] * squeeze,
                       u[:, 4] * shear, u[:, 5] * rotation)


def random_affine(images, random: Random, *, shift=0.0, scale=0.0, squeeze=0.0, shear=0.0,
                  rotation=0.0):
    """Each image its own random affine map, parameters uniform in ± the given ranges.

    images: (N, C, H, W) float -> (N, C, H, W), same dtype and device. shift: translation
    in pixels (dy, dx each uniform in [−shift, shift]); scale: size factor 1 + u (both axes);
    squeeze: x scaled by 1 + u and y by 1/(1 + u); shear: x += u·(y − centre); rotation:
    degrees, counterclockwise as displayed. u is uniform in [−range, range]; scale and
    squeeze must be < 1. All ranges 0 return ``images`` itself (not a copy).
    """
    maps = random_maps(images.shape[0], random, shift=shift, scale=scale, squeeze=squeeze,
                       shear=shear, rotation=rotation)
    if maps is None:
        return images
    return warp(images, backend_of(images).asarray(maps, dtype=images.dtype))


def _check_affine_ranges(shift, scale, squeeze, shear, rotation) -> None:
    ranges = {"shift": shift, "scale": scale, "squeeze": squeeze, "shear": shear,
              "rotation": rotation}
    for name, value in ranges.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    for name in ("scale", "squeeze"):  # the factor 1 + u must stay positive
        if ranges[name] >= 1:
            raise ValueError(f"{name} must be < 1, got {ranges[name]}")


# ---- the elastic part: drawn on the device -----------------------------------------------------

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
    field = xp.reshape(along_h, (h * 2 * n, grid_w)) @ fw.mT
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
    key = (backend.name, dtype, "field", size, float(sigma))
    if key not in _DEVICE_CACHE:
        _DEVICE_CACHE[key] = backend.asarray(field_matrix(size, sigma), dtype=dtype)
    return _DEVICE_CACHE[key]


# ---- the warp: one bilinear resampling pass ------------------------------------------------------

def warp(images, maps=None, field=None):
    """Resample each image at its source points: images (N, C, H, W) -> (N, C, H, W).

    maps: (N, 2, 3) [A_n | t_n] on the images' device and in their dtype, or None (A = I,
    t = 0); field: (N, 2, H, W) displacements (dy, dx), or None. Output pixel p = (i, j) of
    image n, every channel, is the input bilinearly interpolated at
    q = A_n (p − c) + c + t_n + d_n(p), c = ((H − 1)/2, (W − 1)/2), q clamped into the image.
    Neither given: returns ``images`` itself. H and W must be >= 2.
    """
    if maps is None and field is None:
        return images
    xp = array_namespace(images)
    n, _, h, w = images.shape
    if h < 2 or w < 2:
        raise ValueError(f"warp needs images of at least 2x2 pixels, got {h}x{w}")
    grid = _grids(images)
    # the points in (2, N, H, W) layout: all rows y, then all columns x, each contiguous
    if maps is None:
        points = grid["pixels"] + xp.permute_dims(field, (1, 0, 2, 3))
    else:
        # all 2·N·H·W coordinates in one product: [A | t + c] (2, N, 3) @ [p − c; 1] (3, H·W)
        maps = xp.permute_dims(maps + grid["centre"], (1, 0, 2))
        points = xp.reshape(xp.matmul(maps, grid["centred"]), (2, n, h, w))
        if field is not None:
            points += xp.permute_dims(field, (1, 0, 2, 3))
    return _bilinear(images, points[0, ...], points[1, ...])


def _grids(images) -> dict:
    """The pixel grid of images' shape, on their device, in their dtype (built once):
    "pixels" (2, 1, H, W) the points p = (i, j); "centred" (3, H·W) the rows i − c_y, j − c_x
    and 1; "centre" (2, 3) c in the last column, so that [A | t] + centre = [A | t + c]."""
    backend = backend_of(images)
    _, _, h, w = images.shape
    key = (backend.name, images.dtype, "grid", h, w)
    if key not in _DEVICE_CACHE:
        i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        cy, cx = (h - 1) / 2, (w - 1) / 2
        host = {"pixels": np.stack([i, j])[:, None],
                "centred": np.stack([i.ravel() - cy, j.ravel() - cx, np.ones(h * w)]),
                "centre": np.array([[0.0, 0.0, cy], [0.0, 0.0, cx]])}
        _DEVICE_CACHE[key] = {name: backend.asarray(a, dtype=images.dtype)
                              for name, a in host.items()}
    return _DEVICE_CACHE[key]


def _bilinear(images, y, x):
    """images (N, C, H, W) sampled at source points y, x (N, H, W) (row, column), every
    channel at the same points: v = lerp(lerp(v00, v01, fx), lerp(v10, v11, fx), fy)."""
    xp = array_namespace(images)
    n, c, h, w = images.shape
    # top-left neighbour (y0, x0): clamped one short of the last row and column, so that the
    # bottom-right one (y0 + 1, x0 + 1) is inside too; the fractions of the source point
    # clamped into the image are then in [0, 1] (1 on the last row or column)
    y0 = xp.floor(xp.clip(y, 0.0, h - 2.0))
    x0 = xp.floor(xp.clip(x, 0.0, w - 2.0))
    fy = xp.clip(y, 0.0, h - 1.0)
    fy -= y0
    fx = xp.clip(x, 0.0, w - 1.0)
    fx -= x0
    # flat index of the top-left neighbour in the batch seen as 1-D: n·C·H·W + c·H·W + y0·W + x0
    # (y0·W + x0 < H·W is exact in float; the image and channel offsets are added as integers)
    y0 *= w
    y0 += x0
    index = xp.astype(y0, xp.int64)
    first = xp.arange(n, dtype=xp.int64, device=device(images)) * (c * h * w)
    index += xp.reshape(first, (n, 1, 1))
    index = xp.reshape(index, (n, 1, h, w))
    if c > 1:
        channel = xp.arange(c, dtype=xp.int64, device=device(images)) * (h * w)
        index = index + xp.reshape(channel, (1, c, 1, 1))
    index = xp.reshape(index, (-1,))
    # the other three neighbours are 1, W and W + 1 further on: gather them from views of the
    # flat batch that start there, with the same index (never past the end: x0 <= W − 2)
    flat = xp.reshape(images, (-1,))

    def gather(offset):
        return xp.reshape(xp.take(flat[offset:], index), (n, c, h, w))

    fy, fx = xp.reshape(fy, (n, 1, h, w)), xp.reshape(fx, (n, 1, h, w))
    v00 = gather(0)
    top = gather(1) - v00  # in place from here on: no new batch-sized arrays
    top *= fx
    top += v00
    v10 = gather(w)
    bottom = gather(w + 1) - v10
    bottom *= fx
    bottom += v10
    bottom -= top
    bottom *= fy
    bottom += top
    return bottom


# ---- what a recipe asks for ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Distortion:
    """A recipe's distortions: ``kind`` (one of :data:`DISTORTION_KINDS`) and the ranges.

    Call it on a batch, ``distortion(images, random)``: images (N, C, H, W) float ->
    (N, C, H, W), each image with its own random affine map (:func:`random_maps`: shift,
    scale, squeeze, shear, rotation, as in :func:`random_affine`) and/or its own elastic field
    (:func:`elastic_field`: alpha, sigma), composed and applied in one bilinear resampling
    (:func:`warp`). The affine parameters are drawn first, then the field. The kind decides
    which parts apply; the ranges of a part it leaves out are ignored, and ``Distortion()`` is
    the identity. A call that distorts nothing returns ``images`` itself.

    Defaults: affine ranges that keep every digit inside a 32×32 frame and look like the
    paper's figure 13 (LeCun et al. give no ranges; no rotation, which they did not use), and
    Simard et al.'s α = 34, σ = 4. Both are in pixels, right for 28×28 and 32×32 frames alike:
    the digit is the same 20×20 pixels in both.
    """

    kind: str = "none"
    shift: float = 2.0  # pixels
    scale: float = 0.15  # relative
    squeeze: float = 0.15  # relative
    shear: float = 0.3  # x += u·(y − centre)
    rotation: float = 0.0  # degrees
    alpha: float = 34.0  # pixels
    sigma: float = 4.0  # pixels

    def __post_init__(self):
        if self.kind not in DISTORTION_KINDS:
            raise ValueError(f"unknown distortion kind {self.kind!r}: use one of "
                             f"{', '.join(DISTORTION_KINDS)}")
        _check_affine_ranges(self.shift, self.scale, self.squeeze, self.shear, self.rotation)
        if self.alpha < 0 or self.sigma <= 0:
            raise ValueError(f"need alpha >= 0 and sigma > 0, got {self.alpha}, {self.sigma}")

    def __call__(self, images, random: Random):
        maps = field = None
        if self.kind in ("affine", "affine+elastic"):
            maps = random_maps(images.shape[0], random, shift=self.shift, scale=self.scale,
                               squeeze=self.squeeze, shear=self.shear, rotation=self.rotation)
            if maps is not None:
                maps = backend_of(images).asarray(maps, dtype=images.dtype)
        if self.kind in ("elastic", "affine+elastic") and self.alpha > 0:
            field = elastic_field(images, random, alpha=self.alpha, sigma=self.sigma)
        return warp(images, maps, field)


def distortion_examples(images, random: Random, distortion: Distortion,
                        copies: int = 6) -> np.ndarray:
    """``copies`` random versions of each image, on the host, for figures.

    images: (N, H, W) or (N, 1, H, W), any backend and dtype (integers are made float32)
    -> (N, copies, H, W) numpy, for ``lenet_xp.plots.plot_distortions(originals, it, path)``.
    """
    host = to_numpy(images)
    if host.ndim == 4:
        if host.shape[1] != 1:
            raise ValueError(f"distortion_examples takes one channel, got {host.shape}")
        host = host[:, 0]
    if not np.issubdtype(host.dtype, np.floating):
        host = host.astype(np.float32)
    n, h, w = host.shape
    batch = np.repeat(host[:, None], copies, axis=0)  # (N·copies, 1, H, W), image by image
    return to_numpy(distortion(batch, random)).reshape(n, copies, h, w)
