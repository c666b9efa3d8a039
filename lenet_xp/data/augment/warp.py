"""One bilinear resampling pass that applies affine maps and displacement fields together,
on the images' device (conventions: :mod:`lenet_xp.data.augment`)."""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace

from ...backend import backend_of
from ...elementwise import constant
from ...layers.gather import gather

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
    "last" and "corner" (2, 1, 1, 1): H − 1, W − 1 and H − 2, W − 2; "row_major" (1, 2):
    W and 1, a corner's offset in its image."""
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
                "corner": np.reshape([h - 2.0, w - 2.0], (2, 1, 1, 1)),
                "row_major": np.array([[w, 1.0]])}
        _GRIDS[key] = {name: backend.asarray(a, dtype=images.dtype) for name, a in host.items()}
    return _GRIDS[key]


def _offsets(images) -> dict:
    """The int64 offsets of images' shape on their device (built once): "images" (N, 1, 1, 1)
    n·C·H·W, "channels" (1, C, 1, 1) c·H·W, "rows" (2, 1, 1, 1, 1) 0 and W (a pixel's
    neighbour below)."""
    backend = backend_of(images)
    n, c, h, w = images.shape
    key = (backend.name, "offsets", n, c, h, w)
    if key not in _GRIDS:
        host = {"images": np.reshape(np.arange(n) * (c * h * w), (n, 1, 1, 1)),
                "channels": np.reshape(np.arange(c) * (h * w), (1, c, 1, 1)),
                "rows": np.reshape([0, w], (2, 1, 1, 1, 1))}
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
    clamped = xp.minimum(xp.maximum(points, constant(points, 0.0)), grid["last"])
    corner = xp.floor(xp.minimum(clamped, grid["corner"]))
    fraction = xp.reshape(clamped - corner, (2, n, 1, h, w))
    # flat index of each top-left neighbour in the batch seen as 1-D, n·C·H·W + c·H·W + y0·W + x0
    # (y0·W + x0 < H·W is exact in float; the image and channel offsets are added as integers)
    within = xp.matmul(grid["row_major"], xp.reshape(corner, (2, n * h * w)))
    index = xp.reshape(xp.astype(within, xp.int64), (n, 1, h, w)) + offsets["images"]
    if c > 1:
        index = index + offsets["channels"]
    # the neighbours in the top and the bottom row: one index for both (2, N, C, H, W), and
    # the right-hand ones 1 further on, gathered from the view of the batch that starts there
    # (never past its end: x0 <= W − 2)
    rows = xp.reshape(index + offsets["rows"], (-1,))
    flat = xp.reshape(images, (-1,))
    left = xp.reshape(gather(flat, rows), (2, n, c, h, w))
    right = xp.reshape(gather(flat[1:], rows), (2, n, c, h, w))
    right -= left  # in place from here on: no new batch-sized arrays
    right *= fraction[1, ...]
    right += left  # each row interpolated along x: (2, N, C, H, W)
    top, bottom = right[0, ...], right[1, ...]
    bottom -= top
    bottom *= fraction[0, ...]
    bottom += top
    return bottom
