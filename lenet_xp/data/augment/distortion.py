"""What a recipe asks for: a :class:`Distortion` of every training batch (affine maps and/or
elastic fields, in one resampling pass), and examples of it for figures."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from ...backend import Random, backend_of, to_numpy
from ...settings import setting
from .affine import check_affine_ranges, random_maps
from .elastic import elastic_field
from .warp import warp

DISTORTION_KINDS = ("none", "affine", "elastic", "affine+elastic")


@dataclasses.dataclass(frozen=True)
class Distortion:
    """A recipe's distortions: ``kind`` (one of :data:`DISTORTION_KINDS`) and the ranges.

    Call it on a batch, ``distortion(images, random)``: images (N, C, H, W) float ->
    (N, C, H, W), each image with its own random affine map (:func:`random_maps`: shift,
    scale, squeeze, shear, rotation, as in :func:`random_affine`) and/or its own elastic field
    (:func:`elastic_field`: alpha, sigma), composed and applied in one bilinear resampling
    (:func:`warp`). The affine parameters are drawn first, then the field. The kind decides
    which parts apply; the ranges of a part it leaves out are ignored, and ``Distortion()`` is
    the identity. A call that distorts nothing returns ``images`` itself. The affine maps are
    made on the host :data:`~lenet_xp.backend.STAGED_ROWS` images at a time and copied to the
    device in one transfer (:meth:`Random.staged`), so a batch costs neither a transfer nor a
    wait on a GPU; the elastic fields are drawn on the device.

    Defaults: affine ranges that keep every digit inside a 32×32 frame and look like the
    paper's figure 13 (LeCun et al. give no ranges; no rotation, which they did not use), and
    Simard et al.'s α = 34, σ = 4. Both are in pixels, right for 28×28 and 32×32 frames alike:
    the digit is the same 20×20 pixels in both.
    """

    # each field is also a recipe field, under its key (lenet_xp.models.recipe.Recipe), set
    # with --recipe KEY=VALUE (no flag of its own)
    kind: str = setting("none", "random distortions of every training batch: "
                        + ", ".join(DISTORTION_KINDS), key="distort", choices=DISTORTION_KINDS,
                        flag=None)
    shift: float = setting(2.0, "affine: random translation, pixels", key="distort_shift",
                           flag=None)
    scale: float = setting(0.15, "affine: random scaling, relative", key="distort_scale",
                           flag=None)
    squeeze: float = setting(0.15, "affine: random squeezing, relative", key="distort_squeeze",
                             flag=None)
    shear: float = setting(0.3, "affine: random horizontal shear, x += u·(y − centre)",
                           key="distort_shear", flag=None)
    rotation: float = setting(0.0, "affine: random rotation, degrees", key="distort_rotation",
                              flag=None)
    alpha: float = setting(34.0, "elastic: the field's scale, pixels", key="elastic_alpha",
                           flag=None)
    sigma: float = setting(4.0, "elastic: the field's smoothing, pixels", key="elastic_sigma",
                           flag=None)

    def __post_init__(self):
        if self.kind not in DISTORTION_KINDS:
            raise ValueError(f"unknown distortion kind {self.kind!r}: use one of "
                             f"{', '.join(DISTORTION_KINDS)}")
        check_affine_ranges(self.shift, self.scale, self.squeeze, self.shear, self.rotation)
        if self.alpha < 0 or self.sigma <= 0:
            raise ValueError(f"need alpha >= 0 and sigma > 0, got {self.alpha}, {self.sigma}")

    def __call__(self, images, random: Random):
        maps = field = None
        ranges = {"shift": self.shift, "scale": self.scale, "squeeze": self.squeeze,
                  "shear": self.shear, "rotation": self.rotation}
        if self.kind in ("affine", "affine+elastic") and any(ranges.values()):
            # made on the host for many batches at once, one copy to the device (Random.staged)
            maps = random.staged(f"affine maps {sorted(ranges.items())}", backend_of(images),
                                 images.shape[0], lambda m: random_maps(m, random, **ranges),
                                 images.dtype)
        if self.kind in ("elastic", "affine+elastic") and self.alpha > 0:
            field = elastic_field(images, random, alpha=self.alpha, sigma=self.sigma)
        return warp(images, maps, field)


def distortion_examples(images, random: Random, distortion: Distortion | Callable,
                        copies: int = 6) -> np.ndarray:
    """``copies`` random versions of each image, on the host, for figures: ``distortion`` is a
    :class:`Distortion`, or any function ``(batch, random) -> batch`` that distorts as one does.

    images: (N, H, W) or (N, 1, H, W), any backend and dtype (integers are made float32)
    -> (N, copies, H, W) numpy, for ``lenet_xp.tools.plots.plot_distortions(originals, it, path)``.
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
