"""One bilinear resampling pass that applies affine maps and displacement fields together,
on the images' device (conventions: :mod:`lenet_xp.data.augment`)."""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from ...backend import backend_of
from ...primitives import clamp, gather

# the pixel grids and index offsets on the device, by backend name and shape: built once
# per shape
_GRIDS: dict = {}


def warp(images, maps=None, field=None):
    """Resample each image at its source points: images (N, C, H, W) -> (N, C, H, W).

    maps: (N, 2, 3) [A_n | t_n] on the images' device and in their dtype, or None (A = I,
    t = 0); field: (N, 2, H, W) displacements (dy, dx), or None. Output pixel p = (i, j) of
    image n, every channel, is the input bilinearly interpolated at
    q = A_n (p − c) + c + t_n + d_n(p), c = ((H − 1)/2, (W − 1)/2), q clamped into the image.
    Neither given: returns ``images`` itself. H and W must be >= 2.

    About twenty array operations whatever the batch (a GPU launches each): no boolean mask,
    no host read.
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
    return _bilinear(images, points)


def _grids(images) -> dict:
    """The constants of images' shape, on their device, in their dtype (built once):
    "pixels" (2, 1, H, W) the points p = (i, j); "centred" (3, H·W) the rows i − c_y, j − c_x
    and 1; "centre" (2, 3) c in the last column, so that [A | t] + centre = [A | t + c];
    "last" and "corner" (2, 1, 1, 1): H − 1, W − 1 and H − 2, W − 2."""
    backend = backend_of(images)
    _, _, h, w = images.shape
    key = (backend.name, images.dtype, h, w)
    if key not in _GRIDS:
        i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        cy, cx = (h - 1) / 2, (w - 1) / 2
        host = {"pixels": np.stack([i, j])[:, None],
                "centred": np.stack([i.ravel() - cy, j.ravel() - cx, np.ones(h * w)]),
                "centre": np.array([[0.0, 0.0, cy], [0.0, 0.0, cx]]),
                "last": np.reshape([h - 1.0, w - 1.0], (2, 1, 1, 1)),
                "corner": np.reshape([h - 2.0, w - 2.0], (2, 1, 1, 1))}
        _GRIDS[key] = {name: backend.asarray(a, dtype=images.dtype) for name, a in host.items()}
    return _GRIDS[key]


def _offsets(images) -> dict:
    """The int64 offsets of images' shape on their device (built once): "images" (N, 1, 1, 1)
    n·C·H·W and "channels" (1, C, 1, 1) c·H·W."""
    backend = backend_of(images)
    n, c, h, w = images.shape
    key = (backend.name, "offsets", n, c, h, w)
    if key not in _GRIDS:
        host = {"images": np.reshape(np.arange(n) * (c * h * w), (n, 1, 1, 1)),
                "channels": np.reshape(np.arange(c) * (h * w), (1, c, 1, 1))}
        _GRIDS[key] = {name: backend.asarray(a, dtype=backend.xp.int64) for name, a in host.items()}
    return _GRIDS[key]


def _bilinear(images, points):
    """images (N, C, H, W) sampled at source points (2, N, H, W) (rows, then columns), every
    channel at the same points: v = lerp(lerp(v00, v01, fx), lerp(v10, v11, fx), fy)."""
    xp = array_namespace(images)
    n, c, h, w = images.shape
    grid, offsets = _grids(images), _offsets(images)
    # the source point clamped into the image; its top-left neighbour (clamped one short of
    # the last row and column, so that the bottom-right one is inside too) and the fractions,
    # in [0, 1] (1 on the last row or column)
    fraction = clamp(points, 0.0, grid["last"])
    corner = xp.floor(clamp(fraction, high=grid["corner"]))
    fraction -= corner  # in place, as every batch-sized array that can be: fewer allocations
    fy, fx = xp.reshape(fraction[0, ...], (n, 1, h, w)), xp.reshape(fraction[1, ...], (n, 1, h, w))
    # flat index of each top-left neighbour in the batch seen as 1-D, n·C·H·W + c·H·W + y0·W + x0
    # (y0·W + x0 < H·W is exact in float; the image and channel offsets are added as integers)
    within = corner[0, ...] * float(w)
    within += corner[1, ...]
    index = xp.reshape(xp.astype(within, xp.int64), (n, 1, h, w))
    index += offsets["images"]
    if c > 1:
        index = index + offsets["channels"]
    index = xp.reshape(index, (-1,))
    # the other three neighbours are 1, W and W + 1 further on: gather them from views of the
    # flat batch that start there, with the same index (never past the end: x0 <= W − 2)
    flat = xp.reshape(images, (-1,))

    def neighbour(offset):
        return xp.reshape(gather(flat[offset:], index), (n, c, h, w))

    v00 = neighbour(0)
    top = neighbour(1) - v00
    top *= fx
    top += v00
    v10 = neighbour(w)
    bottom = neighbour(w + 1) - v10
    bottom *= fx
    bottom += v10
    bottom -= top
    bottom *= fy
    bottom += top
    return bottom
