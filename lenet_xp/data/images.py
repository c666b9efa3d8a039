"""A person's own digit image -> a 28×28 digit made the way MNIST was made.

MNIST's recipe (LeCun, Cortes & Burges): each NIST digit was size-normalised to fit a
20×20 box, aspect ratio kept, anti-aliased; then placed in a 28×28 field by integer
translation so that its centre of mass lies at the field's centre. Ink is bright (255) on
a black (0) background. :func:`mnist_digit` repeats that for any photo, scan or drawing;
:func:`read_image` opens the file. Host-side only: numpy and Pillow.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

FIELD = 28
BOX = 20
# Where MNIST puts the centre of mass, in 0-based pixel indices (pixel i spans i-0.5..i+0.5).
# Measured on the 10,000 test digits: every one has its centre of mass in [13.5, 14.5] along
# both axes, mean 13.99 / 14.01, std 0.29 (the spread of integer rounding), so MNIST
# translated each digit to put it nearest 14.0 -- half a pixel below and right of the
# geometric centre 13.5. Matching it keeps user digits where the network saw digits.
CENTRE = 14.0
# Pixels of the outer frame that decide polarity and background: 2 % of the shorter side.
FRAME_FRACTION = 0.02
# The frame's background level after inversion: its 90th percentile, so uneven, noisy paper
# falls to 0, while up to 10 % of the frame may be ink (a digit touching the edge).
BACKGROUND_PERCENTILE = 90
# Below this rise over the background (grey levels of 255) nothing is ink: a blank page,
# a uniform colour, or noise. On blank 640×480 paper with Gaussian noise of σ = 12 levels
# (JPEG quality 50 or not), the brightest 2×2 block rises 9-20 levels; a lone pixel, ~40.
MIN_CONTRAST = 32
# Pixels at least this fraction of the ink's peak set the bounding box; fainter ones
# (smudges, paper texture left after the background subtraction) are kept inside the
# box as anti-aliasing but do not widen it.
INK_FRACTION = 0.25
#: The most pixels (width × height) an image may have: 40 megapixels, far more than a digit
#: needs (a 12-megapixel phone photo is 4000×3000), checked from the header before decoding
#: (:func:`open_image`); decoding that many takes about 1 GB (docs/hostile_inputs.md).
#: ``--max-pixels`` raises or lowers it.
MAX_PIXELS = 40_000_000
#: The most one side of an image may exceed the other, as a factor: a digit is taller than
#: wide, a thin 1 up to about 10 times, and anything past this holds no digit to frame (a
#: 3x10,000,000 PNG with a line across was "no ink found", after decoding 954 MB).
MAX_ASPECT = 50
#: The most bytes read of an image that arrives as a stream, which may not end: standard
#: input (``scripts/predict.py -``) and the web app's uploads. A file given by its path has
#: no such limit (its size is known), only :data:`MAX_PIXELS`.
MAX_STREAM_BYTES = 1 << 20
#: The endings of the image files lenet_xp takes: scripts/predict.py picks these out of a
#: folder, and the web app opens only their formats.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                            ".pgm", ".ppm", ".pnm"})


class ImageError(ValueError):
    """An image file that cannot be turned into a digit; the message names the file and says why."""


def open_image(file: BinaryIO, name: str, max_pixels: int = MAX_PIXELS,
               formats: tuple[str, ...] | None = None) -> Image.Image:
    """An image file (a binary file object) opened, not decoded: Pillow reads its header,
    whose width × height must be at most ``max_pixels``; ``formats`` (Pillow's names, e.g.
    ``("PNG", "JPEG")``) limits the formats tried, and whose sides may differ by at most a
    factor :data:`MAX_ASPECT`. The one size guard of lenet_xp's image readers,
    :func:`read_image` and the web app's uploads. Raises :class:`ImageError`."""
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 million pixels on; the limit below is lenet_xp's own
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(file, formats=formats)
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image in a format lenet_xp reads ({', '.join(formats)})"
                         if formats else f"{name}: not an image file Pillow can read "
                         "(PNG, JPEG, BMP, GIF, TIFF, WebP, ...)") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name}: more than Pillow decodes at all ({exc}): make the image "
                         "smaller") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{name}: truncated or corrupt image ({exc})") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageError(f"{name}: {width}x{height} is {width * height:,} pixels, more than the "
                         f"{max_pixels:,} allowed (--max-pixels): make the image smaller")
    if max(width, height) > MAX_ASPECT * min(width, height):
        image.close()
        raise ImageError(f"{name}: {width}x{height} is no digit's shape (one side "
                         f"{max(width, height) / max(1, min(width, height)):,.0f} times the "
                         f"other, at most {MAX_ASPECT}): crop the image to the digit")
    return image


def read_stream(stream: BinaryIO, name: str, limit: int = MAX_STREAM_BYTES) -> bytes:
    """The bytes of an image file arriving on ``stream`` (standard input), at most ``limit``:
    one byte more is read to tell, and raises :class:`ImageError` (``/dev/zero`` never ends)."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ImageError(f"{name}: more than {limit:,} bytes, the most read of an image on a "
                         "stream: give the image's path instead, or make it smaller")
    return data


def read_image(source: str | os.PathLike | bytes, name: str | None = None,
               max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A path or the bytes of an image file -> greyscale uint8 (H, W).

    Any format and mode Pillow opens (PNG, JPEG, BMP, GIF, TIFF, WebP, ...; colour, grey,
    palette, 16-bit). The EXIF orientation of phone photos is applied. Transparent pixels
    count as background: the image is composited on white first. Colour becomes the
    ITU-R 601 luma of Pillow's 'L' mode, L = (299 R + 587 G + 114 B) / 1000; 16-bit grey
    is scaled by 255/65535. ``name`` is how messages call the file (default: the path, or
    ``<stdin>`` for bytes). An image of more than ``max_pixels`` pixels is refused from its
    header, before it is decoded (:func:`open_image`). Raises :class:`ImageError` for a
    missing, empty, too large, non-image, truncated or corrupt file.
    """
    name = _name(source) if name is None else name
    try:
        with _binary(source, name) as file:
            image = open_image(file, name, max_pixels)
            with image:
                image.load()  # decode now: a truncated file fails here, not later
                return _to_grey(ImageOps.exif_transpose(image))
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"{name}: truncated or corrupt image ({exc})") from None


def _binary(source: str | os.PathLike | bytes, name: str) -> BinaryIO:
    """The image file as an open binary file, read as it is decoded (never whole at once)."""
    file: BinaryIO
    if isinstance(source, (bytes, bytearray)):
        file, size = io.BytesIO(source), len(source)
    else:
        file = _open_regular(source, name)
        size = os.fstat(file.fileno()).st_size
    if size == 0:
        file.close()
        raise ImageError(f"{name}: empty file (0 bytes), not an image")
    return file


#: what a path that is not a regular file is, by its mode
_NOT_REGULAR = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                (stat.S_ISDIR, "a folder"))


def _open_regular(path: str | os.PathLike, name: str) -> BinaryIO:
    """``path`` opened for reading if it is a regular file; anything else raises ImageError
    saying what it is, without reading it: a FIFO would wait for a writer forever, a device
    or a socket might never end. It is opened without waiting (``O_NONBLOCK``, which
    regular files ignore) and checked again, so that a FIFO put in its place meanwhile
    cannot hang it either."""
    try:
        _refuse_special(os.stat(path).st_mode, name)  # a socket cannot even be opened
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    try:
        _refuse_special(os.fstat(fd).st_mode, name)
    except ImageError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _refuse_special(mode: int, name: str) -> None:
    """ImageError for a mode that is not a regular file's, naming what it is."""
    if not stat.S_ISREG(mode):
        kind = next((what for test, what in _NOT_REGULAR if test(mode)), "not a regular file")
        raise ImageError(f"{name}: {kind}, not an image file: skipped")


def _name(source: str | os.PathLike | bytes) -> str:
    """How messages call a source by default: its path, or ``<stdin>`` for bytes."""
    return "<stdin>" if isinstance(source, (bytes, bytearray)) else os.fspath(source)


def _to_grey(image: Image.Image) -> np.ndarray:
    """A decoded Pillow image -> uint8 (H, W) luma, transparency composited on white."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        # 'L' would clip these at 255 rather than scale them; 'F' holds 8-bit levels.
        grey = np.asarray(image, dtype=np.float64)
        grey = grey / 257 if image.mode != "F" else grey
        return np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.uint8)


def mnist_digit(grey: np.ndarray, name: str = "image") -> np.ndarray:
    """Greyscale uint8 (H, W) -> uint8 (28, 28) digit as MNIST was made: ink 255 on black 0.

    1. Polarity: if the median of the outer frame (2 % of the shorter side, at least 1 px)
       is light (> 127), the background is paper: invert, x -> 255 - x. Ink is now bright.
    2. Background: subtract the frame's 90th percentile, clip at 0, and stretch so that the
       ink's peak (the brightest level a whole 2×2 block reaches, so a lone bright pixel
       counts for nothing) becomes 255: a faint pencil digit becomes full-strength ink.
    3. A peak under 32 grey levels over the background raises :class:`ImageError`.
    4. Crop to the bounding box of the solid (2×2) pixels >= 25 % of the peak.
    5. Resize so the longer side is 20 and the shorter round(20 · short / long) >= 1,
       Lanczos-filtered (box-averaged first for big reductions).
    6. Paste into a black 28×28 field at the integer offset that puts its intensity-weighted
       centre of mass nearest (14, 14), MNIST's own position (see :data:`CENTRE`).
    """
    grey = np.asarray(grey)
    if grey.ndim != 2 or grey.size == 0:
        raise ValueError(f"{name}: expected a non-empty (H, W) greyscale array, got shape {grey.shape}")
    x = grey.astype(np.float32)
    frame = _frame(x)
    if np.median(frame) > 127:
        x, frame = 255 - x, 255 - frame
    ink = np.clip(x - np.percentile(frame, BACKGROUND_PERCENTILE), 0, None)
    solid = _min_2x2(ink)
    peak = float(solid.max())
    if peak < MIN_CONTRAST:
        raise ImageError(f"{name}: no ink found (a blank or uniform image); use a photo or scan "
                         "of one digit in dark ink on light paper (or light on dark), well lit, "
                         "filling a good part of the frame")
    ink = np.clip(ink * (255 / peak), 0, 255)
    rows, cols = np.nonzero(solid >= INK_FRACTION * peak)
    # A 2×2 block at (r, c) covers rows r..r+1 and columns c..c+1.
    crop = ink[rows.min():rows.max() + 2, cols.min():cols.max() + 2]
    digit = _fit_box(crop)
    return _centre_in_field(digit)


def digit_from_file(source: str | os.PathLike | bytes, name: str | None = None,
                    max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A path or image bytes -> uint8 (28, 28) MNIST-style digit: read_image, then mnist_digit."""
    name = _name(source) if name is None else name
    return mnist_digit(read_image(source, name, max_pixels), name)


def _frame(x: np.ndarray) -> np.ndarray:
    """(H, W) -> (K,) the pixels of the outer frame, max(1, round(2 % of min(H, W))) wide."""
    k = max(1, round(FRAME_FRACTION * min(x.shape)))
    mask = np.ones(x.shape, dtype=bool)
    mask[k:-k, k:-k] = False  # an empty slice when the frame covers the whole image
    return x[mask]


def _min_2x2(x: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W): the minimum over each 2×2 block starting at (r, c), edge-padded."""
    p = np.pad(x, ((0, 1), (0, 1)), mode="edge")
    return np.minimum(np.minimum(p[:-1, :-1], p[1:, :-1]), np.minimum(p[:-1, 1:], p[1:, 1:]))


def _fit_box(crop: np.ndarray) -> np.ndarray:
    """float (h, w) in 0..255 -> float (nh, nw), longer side BOX, aspect ratio kept, anti-aliased."""
    h, w = crop.shape
    long = max(h, w)
    nh, nw = (max(1, round(BOX * side / long)) for side in (h, w))
    # 'F' keeps full precision; reducing_gap box-averages big reductions before Lanczos.
    image = Image.fromarray(crop.astype(np.float32))
    scaled = image.resize((nw, nh), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.clip(np.asarray(scaled), 0, 255)  # Lanczos rings a little past 0 and 255


def _centre_in_field(digit: np.ndarray) -> np.ndarray:
    """float (nh, nw) in 0..255, nh, nw <= 20 -> uint8 (28, 28), centre of mass moved nearest CENTRE."""
    digit = np.rint(digit).astype(np.uint8)
    nh, nw = digit.shape
    weights = digit.astype(np.float64) + 1e-12  # all zero (a hair-thin stroke averaged away): its middle
    com_y = weights.sum(1) @ np.arange(nh) / weights.sum()
    com_x = weights.sum(0) @ np.arange(nw) / weights.sum()
    # The nearest integer offsets, clamped so the whole digit stays in the field.
    top = int(np.clip(np.floor(CENTRE - com_y + 0.5), 0, FIELD - nh))
    left = int(np.clip(np.floor(CENTRE - com_x + 0.5), 0, FIELD - nw))
    field = np.zeros((FIELD, FIELD), dtype=np.uint8)
    field[top:top + nh, left:left + nw] = digit
    return field
