"""Whether the ink of a framed digit can be one digit: the Draw page's warning "this may not
be a digit" for a tap, a blot, a scribble or two digits side by side, which a network still
reads as some digit with high confidence.

Two measures of the (28, 28) uint8 digit that :func:`lenet_xp.data.images.mnist_digit` makes
(the ink scaled to fit a 20×20 box, so a dot becomes a disc 20 pixels across), with limits
measured on MNIST's first 20,000 training digits:

- **ink mass** m = Σ levels / 255, in pixels of full ink: median 100, 99.9th percentile 231;
  above :data:`MAX_MASS` (240, 0.05 % of MNIST) the ink fills its box as no digit does: a tap
  (314), a short dash (262) or a scribble (257 and more).
- **two parts side by side**: the 8-connected parts of the ink (levels ≥ 128); when the
  second largest holds at least :data:`SECOND_PART` (25 %) of the ink and no column holds
  both of the two largest, the ink is two shapes next to each other, as "12" or "11" are.
  0.10 % of MNIST (mostly 4s and 5s drawn in two strokes).
"""

from __future__ import annotations

import numpy as np

#: the most ink (pixels of full ink) a digit holds; see the module's docstring
MAX_MASS = 240.0
#: the share of the ink the second largest part needs to count as a second digit
SECOND_PART = 0.25


def doubt(digit: np.ndarray) -> str | None:
    """Why the (28, 28) uint8 ``digit`` (ink 255 on 0) may not be one digit, or None."""
    levels = np.asarray(digit, dtype=np.float64) / 255
    mass = float(levels.sum())
    if mass > MAX_MASS:
        return (f"the ink fills its box as no digit does ({mass:.0f} pixels of ink; 99.95 % of "
                f"MNIST's digits have fewer than {MAX_MASS:.0f}): a dot, a blot or a scribble?")
    parts = parts_of(levels >= 0.5)
    sizes = np.bincount(parts.reshape(-1))[1:]
    if sizes.size >= 2:
        first, second = np.argsort(-sizes)[:2] + 1
        if sizes[second - 1] >= SECOND_PART * sizes.sum() and not np.any(
                (parts == first).any(axis=0) & (parts == second).any(axis=0)):
            return "the ink is two shapes side by side: one digit at a time, please"
    return None


def parts_of(ink: np.ndarray) -> np.ndarray:
    """The 8-connected parts of a boolean (H, W) image: (H, W) int64, 0 off the ink and
    1, 2, ... for the parts, by repeatedly giving each ink pixel the smallest label among
    its neighbours (a few dozen rounds for a digit)."""
    h, w = ink.shape
    none = h * w + 1
    labels = np.where(ink, np.arange(1, h * w + 1).reshape(h, w), none)
    while True:
        padded = np.pad(labels, 1, constant_values=none)
        smallest = labels
        for dy in range(3):
            for dx in range(3):
                smallest = np.minimum(smallest, padded[dy:dy + h, dx:dx + w])
        smallest = np.where(ink, smallest, none)
        if np.array_equal(smallest, labels):
            break
        labels = smallest
    parts = np.zeros((h, w), dtype=np.int64)
    parts[ink] = np.searchsorted(np.unique(labels[ink]), labels[ink]) + 1
    return parts
