"""Hostile files that tests build themselves: a zip bomb inside an .npz, and a PNG that is
small on disk and large once decoded."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

MIB = 1 << 20


def zip_bomb(source: Path, target: Path, entry: str, extra: int, level: int = 1) -> Path:
    """``target``: the .npz ``source`` rewritten with ZIP_DEFLATED, with ``extra`` bytes of
    zeros after the correct ``.npy`` data of ``entry`` (a name without ``.npy``); level 9
    packs 2 GiB into about 2 MB."""
    with zipfile.ZipFile(source) as original, \
            zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as bomb:
        for info in original.infolist():
            with bomb.open(info.filename, "w", force_zip64=True) as file:
                file.write(original.read(info))
                if info.filename == f"{entry}.npy":
                    zeros = bytes(MIB)
                    for _ in range(extra // MIB):
                        file.write(zeros)
    return target


def one_bit_png(width: int, height: int, ink: bool = True) -> bytes:
    """A 1-bit PNG of ``width`` x ``height``: white paper, with a black bar across its middle
    third where ``ink`` (a few KB on disk, ``width * height`` bytes once decoded)."""
    page = np.ones((height, width), bool)
    if ink:
        page[height // 3:2 * height // 3, width // 3:2 * width // 3] = False
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()

