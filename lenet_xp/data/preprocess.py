"""One-time preprocessing of uint8 images on the host (numpy): pad, binarise, normalise, split.

Order used by :func:`lenet_xp.data.prepare_mnist`: binarise (optional) -> pad -> normalise.
Padding works on the raw pixels with 0 (background), as in LeCun et al. 1998: the 28x28
digits sit in the middle of a 32x32 field, and after ``lecun`` normalisation the border is
-0.1 like the rest of the background.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lenet_xp.backend import Random

NORMALISATIONS = ("standard", "zero_one", "minus_one_one", "lecun")

# lecun mode: x -> x * LECUN_SCALE + LECUN_BACKGROUND maps 0 -> -0.1 and 255 -> 1.175
LECUN_BACKGROUND = -0.1
LECUN_FOREGROUND = 1.175
LECUN_SCALE = (LECUN_FOREGROUND - LECUN_BACKGROUND) / 255.0


@dataclasses.dataclass(frozen=True)
class PixelStats:
    """Mean and standard deviation of the training pixels, in raw units (0..255)."""

    mean: float
    std: float


def pad_images(images: np.ndarray, size: int = 32) -> np.ndarray:
    """Centre images in a ``size`` x ``size`` field of zeros.

    images: (N, H, W) -> (N, size, size), same dtype. An odd margin puts the extra row or
    column at the bottom or right. ``size`` equal to H and W returns a copy.
    """
    n, height, width = images.shape
    if height > size or width > size:
        raise ValueError(
            f"cannot pad {height}x{width} images to {size}x{size}: size must be >= {max(height, width)}"
        )
    top, left = (size - height) // 2, (size - width) // 2
    padded = np.zeros((n, size, size), dtype=images.dtype)
    padded[:, top:top + height, left:left + width] = images
    return padded


def binarise(images: np.ndarray, threshold: int) -> np.ndarray:
    """Black and white uint8 images: 255 where ``images >= threshold``, else 0. Any shape."""
    return np.where(images >= threshold, np.uint8(255), np.uint8(0))


def pixel_stats(images: np.ndarray) -> PixelStats:
    """Mean and (population) standard deviation over all pixels of uint8 ``images``.

    Computed exactly from the 256-bin histogram, without a float copy of the images.
    """
    _require_uint8(images, "pixel_stats")
    counts = np.bincount(images.reshape(-1), minlength=256).astype(np.float64)
    values = np.arange(256, dtype=np.float64)
    total = counts.sum()
    mean = float(counts @ values / total)
    variance = float(counts @ (values - mean) ** 2 / total)
    return PixelStats(mean=mean, std=variance ** 0.5)


def normalise(images: np.ndarray, mode: str, stats: PixelStats | None = None,
              dtype: str = "float32") -> np.ndarray:
    """Float images from uint8 ``images`` (any shape, same shape out): x · scale + offset in
    ``dtype``, with the scale and offset of :func:`normalisation_affine` (mode, stats)."""
    _require_uint8(images, "normalise")
    scale, offset = normalisation_affine(mode, stats)
    out = images.astype(dtype)
    out *= out.dtype.type(scale)
    out += out.dtype.type(offset)
    return out


def normalisation_affine(mode: str, stats: PixelStats | None = None) -> tuple[float, float]:
    """The (scale, offset) of normalisation ``mode``: a raw pixel x in 0..255 becomes
    x · scale + offset. Modes:

    - ``standard``: (x - stats.mean) / stats.std; ``stats`` must be :func:`pixel_stats` of
      the training images, and the same stats serve validation and test images.
    - ``zero_one``: x / 255, in [0, 1].
    - ``minus_one_one``: x / 127.5 - 1, in [-1, 1].
    - ``lecun``: x * 1.275 / 255 - 0.1, background 0 -> -0.1, ink 255 -> 1.175 (LeCun et al.
      1998: mean roughly 0, variance roughly 1).
    """
    if mode == "standard":
        if stats is None:
            raise ValueError(
                "standard normalisation needs the training images' statistics: pass "
                "stats=pixel_stats(train_images), the same for train, validation and test"
            )
        if not stats.std > 0:
            raise ValueError(
                f"standard normalisation needs stats.std > 0, got {stats.std} (constant images?)"
            )
        return 1.0 / stats.std, -stats.mean / stats.std
    if mode == "zero_one":
        return 1.0 / 255.0, 0.0
    if mode == "minus_one_one":
        return 1.0 / 127.5, -1.0
    if mode == "lecun":
        return LECUN_SCALE, LECUN_BACKGROUND
    raise ValueError(f"unknown normalisation {mode!r}: use one of {', '.join(NORMALISATIONS)}")


def validation_split(n: int, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split range(n) at random into (train_idx, val_idx), int64, each sorted ascending.

    Disjoint, together exactly range(n); ``len(val_idx) == val_size`` (0 allowed). The same
    seed gives the same split.
    """
    if not 0 <= val_size < n:
        raise ValueError(f"val_size must be in 0..{n - 1} for {n} training examples, got {val_size}")
    order = Random(seed).permutation(n)
    return np.sort(order[val_size:]), np.sort(order[:val_size])


def _require_uint8(images: np.ndarray, caller: str) -> None:
    if images.dtype != np.uint8:
        raise TypeError(f"{caller} expects raw uint8 pixels (0..255), got dtype {images.dtype}")
