"""IDX reading and writing: round trips, and one clear error per kind of damage."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest

from lenet_xp.data.idx import IdxError, read_idx, write_idx

DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]
SHAPES = [(5,), (3, 4), (2, 3, 4), (1, 2, 1, 3)]


def _raw_idx(tmp_path, data: bytes, name: str = "bad-idx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip(tmp_path, dtype, shape, suffix):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    path = tmp_path / f"array-idx{suffix}"
    written_digest = write_idx(path, array)
    loaded, digest = read_idx(path, return_sha256=True)
    assert loaded.dtype == np.dtype(dtype) and loaded.dtype.isnative
    assert loaded.shape == shape
    np.testing.assert_array_equal(loaded, array)
    assert digest == written_digest
    assert loaded.flags.writeable
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_bytes_are_big_endian(tmp_path):
    path = tmp_path / "short-idx"
    write_idx(path, np.array([1, 256], dtype=np.int16))
    assert path.read_bytes() == bytes.fromhex("00000B01 00000002 0001 0100")


def test_mnist_style_header(tmp_path):
    header = bytes.fromhex("00000803 00000002 00000002 00000003")  # magic 2051: uint8 images
    path = _raw_idx(tmp_path, header + bytes(range(12)), "images-idx3-ubyte")
    np.testing.assert_array_equal(read_idx(path), np.arange(12, dtype=np.uint8).reshape(2, 2, 3))


def test_checksum_is_of_decompressed_bytes(tmp_path):
    raw, packed = tmp_path / "a-idx", tmp_path / "a-idx.gz"
    write_idx(raw, np.arange(7, dtype=np.uint8))
    write_idx(packed, np.arange(7, dtype=np.uint8))
    _, raw_digest = read_idx(raw, return_sha256=True)
    _, packed_digest = read_idx(packed, return_sha256=True)
    assert raw_digest == packed_digest == hashlib.sha256(raw.read_bytes()).hexdigest()


def test_gzip_detected_by_magic_bytes_not_name(tmp_path):
    array = np.arange(6, dtype=np.int32).reshape(2, 3)
    write_idx(tmp_path / "packed.gz", array)
    misnamed = tmp_path / "packed-without-suffix"
    (tmp_path / "packed.gz").rename(misnamed)
    np.testing.assert_array_equal(read_idx(misnamed), array)
    write_idx(tmp_path / "raw", array)
    raw_named_gz = tmp_path / "raw-named.gz"
    (tmp_path / "raw").rename(raw_named_gz)
    np.testing.assert_array_equal(read_idx(raw_named_gz), array)


def test_truncated_data(tmp_path):
    path = _raw_idx(tmp_path, bytes.fromhex("00000801 0000000C") + bytes(10), "labels-idx1-ubyte")
    with pytest.raises(IdxError, match="is truncated: header declares 12 bytes of data, found 10") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_payload_reports_decompressed_sizes(tmp_path):
    path = tmp_path / "labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(bytes.fromhex("00000D01 00000004") + bytes(12)))
    with pytest.raises(IdxError, match=r"truncated: header declares 16 bytes of data, found 12"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = _raw_idx(tmp_path, bytes.fromhex("00000803 0000"))
    with pytest.raises(IdxError, match="truncated.*3 dimensions") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_trailing_bytes(tmp_path):
    path = _raw_idx(tmp_path, bytes.fromhex("00000801 00000002") + bytes(5))
    with pytest.raises(IdxError, match="3 unexpected bytes after the data: header declares 2 bytes") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content", [b"hello, world\n", b"", b"\x00"])
def test_not_an_idx_file(tmp_path, content):
    path = _raw_idx(tmp_path, content, "notes.txt")
    with pytest.raises(IdxError, match="is not an IDX file: it must start with two zero bytes") as info:
        read_idx(path)
    assert "notes.txt" in str(info.value)


def test_unknown_dtype_code(tmp_path):
    path = _raw_idx(tmp_path, bytes.fromhex("00000A01 00000001 00"))
    with pytest.raises(IdxError, match="unknown IDX dtype code 0x0A") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_zero_dimensions(tmp_path):
    path = _raw_idx(tmp_path, bytes.fromhex("00000800"))
    with pytest.raises(IdxError, match="declares 0 dimensions"):
        read_idx(path)


@pytest.mark.parametrize("damage", ["garbage", "cut"])
def test_corrupt_gzip(tmp_path, damage):
    packed = gzip.compress(bytes.fromhex("00000801 00000010") + bytes(range(16)))
    data = packed[:10] + b"\xff" * 30 if damage == "garbage" else packed[:-12]
    path = _raw_idx(tmp_path, data, "train-labels-idx1-ubyte.gz")
    with pytest.raises(IdxError, match="corrupt gzip stream") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("array", [np.zeros(3, dtype=bool), np.zeros(3, dtype=np.int64),
                                   np.zeros(3, dtype=np.complex64)])
def test_write_rejects_dtypes_idx_lacks(tmp_path, array):
    with pytest.raises(IdxError, match=f"IDX has no dtype {array.dtype}"):
        write_idx(tmp_path / "x-idx", array)
    assert list(tmp_path.iterdir()) == []


def test_write_rejects_scalars(tmp_path):
    with pytest.raises(IdxError, match="1 to 255 dimensions, got 0"):
        write_idx(tmp_path / "x-idx", np.uint8(3))


def test_write_replaces_existing_file(tmp_path):
    path = tmp_path / "x-idx.gz"
    write_idx(path, np.zeros(4, dtype=np.uint8))
    write_idx(path, np.ones(2, dtype=np.float32))
    np.testing.assert_array_equal(read_idx(path), np.ones(2, dtype=np.float32))
