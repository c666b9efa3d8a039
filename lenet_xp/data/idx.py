"""The IDX file format of MNIST: reading, writing, checking.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension, then the data,
big-endian, in C order::

    byte 0-1   0x00 0x00
    byte 2     dtype code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
               0x0E float64
    byte 3     number of dimensions D (1..255)
    4 .. 4+4D  the D sizes, uint32 big-endian
    then       prod(sizes) * itemsize bytes of data

Files may be gzip-compressed (detected by the gzip magic bytes 1f 8b, whatever the file is
called). Checksums are taken of the decompressed bytes, so they identify the content
whatever program made the archive.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from lenet_xp.atomic import atomic_file

GZIP_MAGIC = b"\x1f\x8b"

# IDX dtype code -> big-endian numpy dtype
_CODE_TO_DTYPE: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_KIND_TO_CODE = {(dtype.kind, dtype.itemsize): code for code, dtype in _CODE_TO_DTYPE.items()}


class IdxError(ValueError):
    """A file that is not a valid IDX file; the message names the file and the problem."""


def read_idx(path: str | os.PathLike, return_sha256: bool = False):
    """Read an IDX file, raw or gzip-compressed, into a native-endian numpy array.

    The file is read once; with ``return_sha256`` the sha256 hex digest of its decompressed
    bytes comes back too, as ``(array, digest)``.

    Raises:
        IdxError: unreadable gzip stream, bad magic number, unknown dtype code, or a data
            size that does not match the header (truncated file or trailing bytes).
    """
    path = Path(path)
    array, digest = decode_idx(path.read_bytes(), source=str(path))
    return (array, digest) if return_sha256 else array


def decode_idx(raw: bytes, source: str) -> tuple[np.ndarray, str]:
    """Parse the bytes of an IDX file (gzip-compressed or not).

    Args:
        raw: the file's bytes as stored.
        source: the file name or URL, for error messages.

    Returns:
        ``(array, sha256_hex_of_decompressed_bytes)``; the array is a writable,
        native-endian copy with the shape the header declares.
    """
    data = _decompress(raw, source) if raw[:2] == GZIP_MAGIC else raw
    dtype, shape, header_size = _parse_header(data, source)
    declared = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header_size
    if found < declared:
        raise IdxError(
            f"file {source} is truncated: header declares {declared:,} bytes of data, found "
            f"{found:,}; the file is incomplete (an interrupted download?), fetch it again"
        )
    if found > declared:
        raise IdxError(
            f"file {source} has {found - declared:,} unexpected bytes after the data: header "
            f"declares {declared:,} bytes of data, found {found:,}; the file is corrupt or not "
            "an IDX file"
        )
    array = np.frombuffer(data, dtype=dtype, count=declared // dtype.itemsize, offset=header_size)
    native = array.astype(dtype.newbyteorder("=")).reshape(shape)
    return native, hashlib.sha256(data).hexdigest()


def write_idx(path: str | os.PathLike, array) -> str:
    """Write ``array`` as an IDX file, gzip-compressed if ``path`` ends in ``.gz``.

    The file appears atomically (temporary file, then rename): readers never see half a file.
    Supported dtypes: uint8, int8, int16, int32, float32, float64; at least one dimension.

    Returns:
        the sha256 hex digest of the decompressed bytes, as :func:`read_idx` reports it.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _KIND_TO_CODE.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        supported = ", ".join(str(dtype.newbyteorder("=")) for dtype in _CODE_TO_DTYPE.values())
        raise IdxError(f"cannot write {path}: IDX has no dtype {array.dtype}; use one of {supported}")
    if not 1 <= array.ndim <= 255:
        raise IdxError(f"cannot write {path}: IDX needs 1 to 255 dimensions, got {array.ndim}")
    if max(array.shape) >= 2**32:
        raise IdxError(f"cannot write {path}: dimension sizes must be below 2**32, got {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=_CODE_TO_DTYPE[code]).tobytes()
    stored = gzip.compress(data, mtime=0) if path.suffix == ".gz" else data
    atomic_write_bytes(path, stored)
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` all or nothing (:func:`lenet_xp.atomic.atomic_file`)."""
    with atomic_file(path) as file:
        file.write(data)


def _decompress(raw: bytes, source: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise IdxError(
            f"file {source} is a corrupt gzip stream ({exc}); delete it and fetch it again"
        ) from exc


def _parse_header(data: bytes, source: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """(big-endian dtype, shape, header size in bytes) from the IDX header."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise IdxError(
            f"file {source} is not an IDX file: it must start with two zero bytes, found "
            f"{data[:4].hex(' ') or 'an empty file'}"
        )
    code, ndim = data[2], data[3]
    if code not in _CODE_TO_DTYPE:
        known = ", ".join(f"0x{known:02X}" for known in _CODE_TO_DTYPE)
        raise IdxError(f"file {source} has unknown IDX dtype code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise IdxError(f"file {source} declares 0 dimensions; an IDX file needs at least one")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IdxError(
            f"file {source} is truncated: its header declares {ndim} dimensions "
            f"({header_size} header bytes), found only {len(data)} bytes"
        )
    shape = tuple(int(size) for size in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    return _CODE_TO_DTYPE[code], shape, header_size
