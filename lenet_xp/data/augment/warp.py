"""One bilinear resampling pass that applies affine maps and displacement fields together,
on the images' device (conventions: :mod:`lenet_xp.data.augment`)."""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace, device

from ...backend import backend_of

# the pixel grids on the device, by (backend name, dtype, H, W): built once per shape
_GRIDS: dict = {}


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
    key = (backend.name, images.dtype, h, w)
    if key not in _GRIDS:
        i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        cy, cx = (h - 1) / 2, (w - 1) / 2
        host = {"pixels": np.stack([i, j])[:, None],
                "centred": np.stack([i.ravel() - cy, j.ravel() - cx, np.ones(h * w)]),
                "centre": np.array([[0.0, 0.0, cy], [0.0, 0.0, cx]])}
        _GRIDS[key] = {name: backend.asarray(a, dtype=images.dtype) for name, a in host.items()}
    return _GRIDS[key]


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
