"""An ``.npz`` archive read without trusting it: each entry's declared shape and type come
from its ``.npy`` header first, so that a caller can refuse an entry before its data is read
(a 4 MB file can declare a 4 GB array), an entry must be exactly as long as its header says
(a 2 MB file can hold a 2 GB entry of zeros after its data: a zip bomb), and nothing is ever
unpickled.

``numpy.load`` would read a whole entry on access, and on a file that is not a zip archive
falls back to unpickling (with ``allow_pickle=False``, an error that suggests turning it on):
this module reads the zip members itself with :mod:`numpy.lib.format`'s header functions.
"""

from __future__ import annotations

import dataclasses
import zipfile
import zlib
from pathlib import Path

import numpy as np
from numpy.lib import format as npy

#: more entries than this is no lenet_xp file (deep_cnn's checkpoint has about 130)
MAX_ENTRIES = 10_000
#: the kinds of array a lenet_xp file holds: floats, integers, booleans and text (the meta)
PLAIN_KINDS = "fiubU"


class ArchiveError(ValueError):
    """An archive or entry that is not what a lenet_xp file holds; the message says why (the
    caller adds the file's name)."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """What an entry's header declares: its ``shape`` and ``dtype``."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize

    def describe(self) -> str:
        return f"{self.shape} {self.dtype.name}"


class Archive:
    """An open ``.npz`` file: :attr:`entries` (name -> :class:`Entry`, from the headers
    alone) and :meth:`read`. Use as ``with Archive(path) as archive: ...``.

    Raises ArchiveError for a file that is not a whole zip archive, has too many entries, or
    an entry that is not an ``.npy`` array of plain numbers or text."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
            raise ArchiveError(f"not a whole .npz archive (truncated, damaged or another "
                               f"kind of file: {exc})") from None
        try:
            self.entries = self._headers()
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc) -> None:
        self._zip.close()

    def _headers(self) -> dict[str, Entry]:
        members = self._zip.infolist()
        self._sizes: dict[str, int] = {}  # name -> the bytes its header declares, itself included
        if len(members) > MAX_ENTRIES:
            raise ArchiveError(f"{len(members):,} entries, more than any lenet_xp file has")
        entries = {}
        for member in members:
            name = member.filename.removesuffix(".npy")
            if name == member.filename:
                raise ArchiveError(f"its entry {name} is not an array")
            with self._open(name, member) as file:
                entry = self._header(name, file)
                self._sizes[name] = file.tell() + entry.nbytes  # the header, then the data
            if entry.dtype.hasobject:
                raise ArchiveError(f"its entry {name} holds Python objects")
            if entry.dtype.kind not in PLAIN_KINDS:
                raise ArchiveError(f"its entry {name} holds {entry.dtype} data, which lenet_xp "
                                   "never writes")
            entries[name] = entry
        return entries

    def _open(self, name: str, member):
        try:
            return self._zip.open(member)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as exc:
            raise ArchiveError(f"its entry {name} is damaged ({exc})") from None

    @staticmethod
    def _header(name: str, file) -> Entry:
        try:
            version = npy.read_magic(file)
            read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, fortran_order, dtype = read(file)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError,
                SyntaxError, TypeError) as exc:
            raise ArchiveError(f"its entry {name} is not an array ({exc})") from None
        if fortran_order and len(shape) > 1:
            raise ArchiveError(f"its entry {name} is in Fortran order, which lenet_xp never writes")
        return Entry(tuple(shape), dtype)

    def read(self, name: str) -> np.ndarray:
        """The array of entry ``name``: exactly as many bytes as its header declares are
        read (check :attr:`entries` first), and the entry's checksum is verified. The zip's
        directory must say that the entry holds just that many, else nothing is read (the
        zip module inflates no more than the directory says): the array's last byte is the
        entry's, where its CRC-32 is checked."""
        member = self._zip.getinfo(f"{name}.npy")
        if member.file_size != self._sizes[name]:
            raise ArchiveError(f"its entry {name} holds {member.file_size:,} bytes (the zip's "
                               f"directory says), where its .npy header declares "
                               f"{self._sizes[name]:,}: the file is damaged, or built to fill "
                               "the memory of whoever reads it (a zip bomb)")
        with self._open(name, member) as file:
            try:
                array = npy.read_array(file, allow_pickle=False)
            except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as exc:
                raise ArchiveError(f"its entry {name} is damaged ({exc})") from None
        return array
