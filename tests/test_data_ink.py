"""lenet_xp.data.ink: the Draw page's "this may not be a digit". Drawings made as the pad
makes them (black strokes 20 pixels wide on a white 280×280 page), framed as predict.py
frames them: a tap, a scribble and "12" are doubted, digits are not; on the real MNIST
digits the limits flag about 0.15 % (the module says how they were measured)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from lenet_xp.data import load_mnist
from lenet_xp.data.images import digit_from_file
from lenet_xp.data.ink import doubt, parts_of


def _pad(*strokes) -> np.ndarray:
    """Strokes on the Draw page's pad -> the framed (28, 28) digit."""
    page = Image.new("L", (280, 280), 255)
    pen = ImageDraw.Draw(page)
    for stroke in strokes:
        if len(stroke) > 1:
            pen.line(stroke, fill=0, width=20)
        for x, y in stroke:
            pen.ellipse([x - 10, y - 10, x + 10, y + 10], fill=0)
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return digit_from_file(buffer.getvalue())


SEVEN = [(70, 60), (210, 60), *((210 - 6 * k, 60 + 12 * k) for k in range(1, 16))]
ONE = [(150, 40), (145, 130), (140, 240)]
ZERO = [(140 + 60 * np.cos(t), 140 + 90 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 40)]
FOUR = [(90, 40), (70, 160), (200, 160)], [(170, 60), (170, 240)]


@pytest.mark.parametrize("strokes", [[SEVEN], [ONE], [ZERO], list(FOUR)], ids=["7", "1", "0", "4"])
def test_digits_are_not_doubted(strokes):
    assert doubt(_pad(*strokes)) is None


def test_a_tap_and_a_scribble_are_doubted():
    assert "a dot, a blot or a scribble" in doubt(_pad([(140, 140)]))
    rng = np.random.default_rng(0)
    scribble = [tuple(int(v) for v in p) for p in rng.integers(60, 220, size=(25, 2))]
    assert "no digit does" in doubt(_pad(scribble))


def test_two_digits_side_by_side_are_doubted():
    twelve = ([(60, 60), (60, 220)], [(120, 80), (160, 50), (200, 80), (120, 220), (210, 220)])
    assert "two shapes side by side" in doubt(_pad(*twelve))
    assert "two shapes side by side" in doubt(_pad([(80, 60), (80, 220)], [(180, 60), (180, 220)]))


def test_parts_are_eight_connected():
    ink = np.zeros((5, 6), bool)
    ink[0, 0] = ink[1, 1] = True  # diagonal neighbours: one part
    ink[3:, 4:] = True
    parts = parts_of(ink)
    assert parts[0, 0] == parts[1, 1] != parts[4, 5] and set(np.unique(parts)) == {0, 1, 2}
    assert (parts_of(np.ones((3, 3), bool)) == 1).all()


@pytest.mark.slow
def test_few_mnist_digits_are_doubted(shared_mnist):
    digits = load_mnist(shared_mnist, verify=False, download=False).train_images[:20000]
    flagged = sum(doubt(digit) is not None for digit in digits)
    assert flagged / len(digits) < 0.003, flagged
