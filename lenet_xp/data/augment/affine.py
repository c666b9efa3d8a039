"""Random affine distortions, drawn on the host: six numbers per image (translation,
scale, squeeze, shear, rotation), turned into inverse maps [A | t] that :func:`warp`
applies on the device (conventions: :mod:`lenet_xp.data.augment`)."""

from __future__ import annotations

import numpy as np

from ...backend import Random, backend_of
from .warp import warp


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
    check_affine_ranges(shift, scale, squeeze, shear, rotation)
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


def check_affine_ranges(shift, scale, squeeze, shear, rotation) -> None:
    ranges = {"shift": shift, "scale": scale, "squeeze": squeeze, "shear": shear,
              "rotation": rotation}
    for name, value in ranges.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    for name in ("scale", "squeeze"):  # the factor 1 + u must stay positive
        if ranges[name] >= 1:
            raise ValueError(f"{name} must be < 1, got {ranges[name]}")
