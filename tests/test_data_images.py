"""A person's digit image -> MNIST-style 28×28: reading every kind of file, polarity, background,
geometry (20×20 box, centre of mass), round trips, and the errors that name the file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from lenet_xp.data import read_idx
from lenet_xp.data.images import (CENTRE, MAX_PIXELS, ImageError, digit_from_file, mnist_digit,
                                   read_image)

REAL_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def zero(size=(200, 240), box=(50, 40, 150, 200), ink=0, paper=255, mode="L") -> Image.Image:
    """A thick ring '0' drawn in ``ink`` on ``paper``."""
    image = Image.new(mode, size, paper)
    ImageDraw.Draw(image).ellipse(box, outline=ink, width=18)
    return image


def seven(size=(200, 240), ink=0, paper=255) -> Image.Image:
    """A '7' of two thick lines, with a bar across."""
    image = Image.new("L", size, paper)
    draw = ImageDraw.Draw(image)
    draw.line([(45, 40), (155, 40), (85, 205)], fill=ink, width=16, joint="curve")
    draw.line([(75, 120), (135, 120)], fill=ink, width=12)
    return image


def ink_box(digit: np.ndarray) -> tuple[int, int]:
    """(28, 28) -> (height, width) of the bounding box of the non-zero pixels."""
    rows, cols = np.nonzero(digit)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def centre_of_mass(digit: np.ndarray) -> tuple[float, float]:
    weights = digit.astype(np.float64)
    return (float(weights.sum(1) @ np.arange(28) / weights.sum()),
            float(weights.sum(0) @ np.arange(28) / weights.sum()))


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def assert_mnist_like(digit: np.ndarray) -> None:
    """uint8 (28, 28), black border, bright ink, in a 20×20 box, centred like MNIST."""
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    border = np.concatenate([digit[0], digit[-1], digit[:, 0], digit[:, -1]])
    assert border.max() == 0 and digit.max() >= 200
    assert max(ink_box(digit)) <= 20
    assert np.allclose(centre_of_mass(digit), CENTRE, atol=0.5)


def test_polarity_white_on_black_equals_black_on_white():
    dark_on_light = mnist_digit(np.asarray(seven(ink=0, paper=255)))
    light_on_dark = mnist_digit(np.asarray(seven(ink=255, paper=0)))
    assert_mnist_like(dark_on_light)
    assert np.abs(dark_on_light.astype(int) - light_on_dark).max() <= 1


def _blue_on_yellow(path: Path) -> None:
    rng = np.random.default_rng(0)
    paper = np.empty((240, 200, 3))
    paper[...] = (245, 235, 160)
    ring = np.asarray(zero()) < 128
    paper[ring] = (30, 40, 150)
    paper += rng.normal(0, 6, paper.shape)  # mild sensor noise
    Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)).save(path)


def _transparent_rgba(path: Path) -> None:
    image = Image.new("RGBA", (200, 240), (0, 0, 0, 0))  # transparent *black*: must read as paper
    ImageDraw.Draw(image).ellipse((50, 40, 150, 200), outline=(0, 0, 0, 255), width=18)
    image.save(path)


def _lossy_jpeg(path: Path) -> None:
    zero(mode="RGB", ink=(20, 20, 20), paper=(250, 250, 250)).save(path, quality=60)


FORMATS = {
    "blue-on-yellow.png": _blue_on_yellow,
    "transparent.png": _transparent_rgba,
    "palette.gif": lambda path: zero().convert("P").save(path),
    "lossy.jpg": _lossy_jpeg,
    "plain.bmp": lambda path: zero().save(path),
}


@pytest.mark.parametrize("file_name", FORMATS)
def test_formats_and_modes_give_the_same_digit(tmp_path, file_name):
    path = tmp_path / file_name
    FORMATS[file_name](path)
    digit = digit_from_file(path)
    assert_mnist_like(digit)
    assert corr(digit, mnist_digit(np.asarray(zero()))) > 0.97


def test_colour_becomes_601_luma(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    r, g, b = rgb.astype(int).transpose(2, 0, 1)
    expected = (299 * r + 587 * g + 114 * b) / 1000
    assert np.abs(read_image(tmp_path / "colour.png") - expected).max() <= 1


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    grey = np.asarray(zero())
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    assert np.array_equal(read_image(tmp_path / "deep.png"), grey)


def test_exif_orientation_of_phone_photos_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    zero(size=(200, 240)).save(tmp_path / "phone.jpg", exif=exif)
    assert read_image(tmp_path / "phone.jpg").shape == (200, 240)


def test_digit_fits_a_20_box_with_its_longer_side():
    height, width = ink_box(mnist_digit(np.asarray(zero())))
    assert 19 <= height <= 20 and width < height


def test_thin_one_keeps_its_aspect_ratio():
    image = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(image).rectangle((95, 20, 106, 170), fill=0)  # 12 × 151 px
    height, width = ink_box(mnist_digit(np.asarray(image)))
    assert 19 <= height <= 20 and width <= 4


def test_off_centre_digit_in_a_big_canvas_is_centred():
    digit = mnist_digit(np.asarray(zero(size=(300, 200), box=(220, 120, 280, 190))))
    assert_mnist_like(digit)
    assert np.allclose(centre_of_mass(digit), 13.5, atol=1.0)


def test_faint_pencil_on_grey_paper_becomes_full_strength_ink():
    rng = np.random.default_rng(2)
    page = np.asarray(zero(ink=150, paper=205)).astype(float) + rng.normal(0, 4, (240, 200))
    digit = mnist_digit(np.clip(page, 0, 255).astype(np.uint8))
    assert_mnist_like(digit)
    assert digit.max() == 255


def test_isolated_specks_do_not_count_as_ink():
    clean = np.asarray(zero())
    specks = clean.copy()
    specks[[3, 230, 10, 120], [190, 5, 10, 195]] = 0  # lone dark pixels near the edges
    assert np.array_equal(mnist_digit(specks), mnist_digit(clean))


@pytest.mark.parametrize("draw", [zero, seven], ids=["zero", "seven"])
def test_round_trip_through_an_upscaled_black_on_white_png(tmp_path, draw):
    first = mnist_digit(np.asarray(draw()))
    big = Image.fromarray(255 - first).resize((140, 140), Image.Resampling.BICUBIC)
    big.save(tmp_path / "again.png")
    assert corr(digit_from_file(tmp_path / "again.png"), first) > 0.95


def aligned_corr(a: np.ndarray, b: np.ndarray) -> float:
    """The best correlation of ``a`` moved by at most 1 px along each axis with ``b``."""
    return max(corr(np.roll(a, (dy, dx), axis=(0, 1)), b) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


@pytest.mark.slow
def test_real_mnist_digits_survive_the_round_trip(tmp_path):
    """×4 bicubic, black on white, back: the shape survives; where a centre of mass sits near a
    half pixel, or a short side rounds the other way, the digit may land 1 px off."""
    path = REAL_MNIST / "t10k-images-idx3-ubyte.gz"
    if not path.exists():
        pytest.skip(f"real MNIST not found at {path}")
    raw, aligned = [], []
    for i, original in enumerate(read_idx(path)[:20]):
        big = Image.fromarray(255 - original).resize((112, 112), Image.Resampling.BICUBIC)
        big.save(tmp_path / f"{i}.png")
        digit = digit_from_file(tmp_path / f"{i}.png")
        raw.append(corr(digit, original))
        aligned.append(aligned_corr(digit, original))
    assert min(aligned) > 0.9 and np.median(raw) > 0.95, (np.round(raw, 3), np.round(aligned, 3))


def _truncated_png(path: Path) -> None:
    data = png_bytes(zero())
    path.write_bytes(data[:len(data) // 2])


BAD_FILES = {
    "empty.png": lambda path: path.write_bytes(b""),
    "digit.png": lambda path: path.write_text("this is a note, not a picture\n"),
    "truncated.png": _truncated_png,
    "blank.png": lambda path: Image.new("L", (100, 100), 255).save(path),
    "grey.png": lambda path: Image.new("RGB", (100, 100), (128, 128, 128)).save(path),
}


@pytest.mark.parametrize("file_name", ["missing.png", *BAD_FILES])
def test_bad_files_raise_an_error_naming_the_file(tmp_path, file_name):
    path = tmp_path / file_name
    if file_name in BAD_FILES:
        BAD_FILES[file_name](path)
    with pytest.raises(ImageError, match=file_name) as error:
        digit_from_file(path)
    if file_name in ("blank.png", "grey.png"):
        assert "no ink" in str(error.value)


def test_bytes_input_works_and_is_called_stdin():
    data = png_bytes(seven())
    assert np.array_equal(digit_from_file(data), mnist_digit(np.asarray(seven())))
    with pytest.raises(ImageError, match="<stdin>"):
        digit_from_file(b"not an image")
    with pytest.raises(ImageError, match="<stdin>: no ink"):
        digit_from_file(png_bytes(Image.new("L", (50, 50), 0)))


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` grey pixels and holds no image data: Pillow
    opens it (the header is all it reads); decoding it would fail."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [9_000, 13_300, 40_000])
def test_an_image_over_the_pixel_limit_is_refused_from_its_header(tmp_path, side):
    """The 13,300² PNG bomb (37 KB) took 4.4 GB before Pillow's own warning; 9,000² decoded
    silently (2.1 GB); 40,000² is past Pillow's own hard limit."""
    import tracemalloc
    import warnings

    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(side, side))
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no DecompressionBombWarning reaches the user
            with pytest.raises(ImageError) as refused:
                read_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if side * side <= 2 * Image.MAX_IMAGE_PIXELS:
        assert str(refused.value) == (
            f"{path}: {side}x{side} is {side * side:,} pixels, more than the {MAX_PIXELS:,} "
            f"allowed (--max-pixels): make the image smaller")
    else:  # Pillow refuses it first, in its own words
        assert str(refused.value).startswith(f"{path}: more than Pillow decodes at all (Image "
                                             f"size ({side * side} pixels) exceeds limit")
    assert peak < 5e6


def test_the_pixel_limit_can_be_raised_and_lowered():
    bomb = png_header(9_000, 9_000)
    with pytest.raises(ImageError, match="truncated or corrupt"):  # allowed, so decoded
        read_image(bomb, max_pixels=81_000_000)
    with pytest.raises(ImageError, match=r"100x100 is 10,000 pixels, more than the 9,999"):
        digit_from_file(png_bytes(seven(size=(100, 100))), max_pixels=9_999)
    assert digit_from_file(png_bytes(seven(size=(100, 100))), max_pixels=10_000).shape == (28, 28)
    with pytest.raises(ImageError, match="more than Pillow decodes"):
        read_image(png_header(20_000, 20_000), max_pixels=10**9)


def test_an_image_of_no_digits_shape_is_refused_from_its_header():
    """Sides more than 50 times apart hold no digit to frame: a 3x10,000,000 PNG with a line
    across was "no ink found" (its line is one pixel thin), after 954 MB of decoding (the real
    size, and its memory: tests/test_hostile_memory.py). A thin 1 is far inside the limit."""
    for width, height, ratio in ((10_000_000, 3, "3,333,333"), (1, 51, "51")):
        with pytest.raises(ImageError) as refused:
            read_image(png_header(width, height), "thin.png")
        assert str(refused.value) == (f"thin.png: {width}x{height} is no digit's shape (one side "
                                      f"{ratio} times the other, at most 50): crop the image to "
                                      "the digit")
    thin_one = np.full((500, 12), 255, np.uint8)
    thin_one[20:480, 3:9] = 0
    assert digit_from_file(png_bytes(Image.fromarray(thin_one))).max() == 255
