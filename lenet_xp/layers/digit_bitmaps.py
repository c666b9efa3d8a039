"""LeNet-5's RBF prototypes: ten stylised 7×12 digit bitmaps, shipped as ``digit_bitmaps.txt``.

In LeCun et al. 1998 (section II.B, figure 3) each output unit i is a Euclidean RBF whose fixed
parameter vector w_i ∈ {−1, +1}^84 is a 7-wide, 12-high drawing of digit i: F6 is trained to
draw the digit it sees. The drawings here are our own, in the spirit of figure 3 (bold
strokes, one blank row on top and two below); their pairwise Hamming distances are 13 to 44
of 84, so every two prototypes are at least 4·13 = 52 apart in squared distance.

    >>> print(render_digit_bitmaps())        # the ten bitmaps side by side, as text
    >>> load_digit_bitmaps().shape           # (10, 84), +1 ink, −1 background

As a figure (needs matplotlib): ``lenet_xp.tools.plots.plot_digit_bitmaps(load_digit_bitmaps(), path)``.
"""

from __future__ import annotations

from importlib import resources

from ..backend import get_backend, to_numpy

WIDTH, HEIGHT = 7, 12
INK, BACKGROUND = "#", "."
BITMAP_FILE = "digit_bitmaps.txt"


def parse_digit_bitmaps(text: str) -> list[list[str]]:
    """The ten bitmaps of a ``digit_bitmaps.txt``-style text, as lists of 12 rows of 7 chars.

    Format: ``;`` starts a comment line, a line holding one digit starts that digit's bitmap,
    the next 12 non-blank lines are its rows of ``#`` (ink) and ``.`` (background).

    Raises:
        ValueError: a row of the wrong width or characters, a bitmap of the wrong height,
            a digit missing or given twice.
    """
    bitmaps: dict[int, list[str]] = {}
    current = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.isdigit() and len(line) == 1:
            if int(line) in bitmaps:
                raise ValueError(f"line {number}: digit {line} is drawn twice")
            current = int(line)
            bitmaps[current] = []
            continue
        if current is None:
            raise ValueError(f"line {number}: a bitmap row before any digit label")
        if len(line) != WIDTH or set(line) - {INK, BACKGROUND}:
            raise ValueError(f"line {number}: rows are {WIDTH} characters of '{INK}' and "
                             f"'{BACKGROUND}', got {line!r}")
        if len(bitmaps[current]) == HEIGHT:
            raise ValueError(f"line {number}: digit {current} has more than {HEIGHT} rows")
        bitmaps[current].append(line)
    if sorted(bitmaps) != list(range(10)):
        raise ValueError(f"need the digits 0-9 once each, found {sorted(bitmaps)}")
    short = [d for d, rows in bitmaps.items() if len(rows) != HEIGHT]
    if short:
        raise ValueError(f"digit(s) {short} have fewer than {HEIGHT} rows")
    return [bitmaps[d] for d in range(10)]


def digit_bitmap_rows() -> list[list[str]]:
    """The packaged bitmaps as text rows: ``digit_bitmap_rows()[3]`` is digit 3's 12 rows."""
    text = resources.files(__package__).joinpath(BITMAP_FILE).read_text(encoding="utf-8")
    return parse_digit_bitmaps(text)


def load_digit_bitmaps(dtype: str = "float32"):
    """The RBF prototypes: a (10, 84) CPU array, row i = digit i read row-major, ink +1,
    background −1 (move it with ``Backend.asarray`` or a layer's ``.to``)."""
    cpu = get_backend("cpu")
    values = [[1.0 if char == INK else -1.0 for row in rows for char in row]
              for rows in digit_bitmap_rows()]
    return cpu.asarray(values, dtype=cpu.dtype(dtype))


def render_digit_bitmaps(bitmaps=None, *, gap: int = 2, ink: str = INK,
                         background: str = BACKGROUND) -> str:
    """Text picture of (K, 84) vectors as 7×12 bitmaps side by side, labelled 0..K−1.

    ``bitmaps`` defaults to the packaged prototypes; any (K, 84) array works (e.g. F6
    outputs of a trained LeNet-5: a component is drawn as ink where it is > 0).
    """
    values = to_numpy(load_digit_bitmaps() if bitmaps is None else bitmaps)
    if values.ndim != 2 or values.shape[1] != WIDTH * HEIGHT:
        raise ValueError(f"expected (K, {WIDTH * HEIGHT}) vectors, got shape {tuple(values.shape)}")
    spacer = " " * gap
    lines = [spacer.join(str(k).center(WIDTH) for k in range(values.shape[0])).rstrip()]
    for r in range(HEIGHT):
        cells = ["".join(ink if values[k, r * WIDTH + c] > 0 else background for c in range(WIDTH))
                 for k in range(values.shape[0])]
        lines.append(spacer.join(cells))
    return "\n".join(lines)

