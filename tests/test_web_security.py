"""lenet_xp.web.security: the Host names answered, and images judged by their header."""

from __future__ import annotations

import io
import socket

import numpy as np
import pytest
from PIL import Image, ImageFile

from lenet_xp.data.images import ImageError, read_image
from lenet_xp.web.security import MAX_PIXELS, HostCheck, check_image, upload_formats
from lenet_xp.web.served import served_names


def test_loopback_server_answers_its_own_names_only():
    check = HostCheck("127.0.0.1", 8000)
    for header in ("127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000", "localhost"):
        assert check.allows(header), header
    for header in (None, "", "evil.example:8000", "192.168.1.5:8000", "localhost:8001",
                   "localhost:", "127.0.0.1:80x", "[::1]:9"):
        assert not check.allows(header), header
    assert check.allows_origin(None) and check.allows_origin("http://localhost:8000")
    assert not check.allows_origin("http://evil.example") and not check.allows_origin("null")


def test_a_server_on_every_interface_answers_ip_addresses_and_this_machines_name():
    check = HostCheck("0.0.0.0", 8000)
    for header in ("192.168.1.5:8000", "[fe80::1]:8000", socket.gethostname() + ":8000"):
        assert check.allows(header), header
    assert not check.allows("rebound.evil.example:8000"), "a name is not an address"


def test_upload_formats_are_predict_pys():
    assert set(upload_formats()) >= {"PNG", "JPEG", "BMP", "GIF", "TIFF", "PPM"}
    assert "TGA" not in upload_formats() and "ICO" not in upload_formats()


def test_a_foreign_format_is_refused_although_pillow_reads_it():
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((30, 30), np.uint8)).save(buffer, format="TGA")
    read_image(buffer.getvalue())  # Pillow would open it...
    with pytest.raises(ImageError, match="not an image in a format lenet_xp reads"):
        check_image(buffer.getvalue(), "x")  # ...the server does not


def test_the_pixel_count_is_checked_before_decoding(monkeypatch):
    buffer, small = io.BytesIO(), io.BytesIO()
    Image.new("L", (MAX_PIXELS // 1000 + 1, 1000)).save(buffer, format="PNG")
    Image.new("L", (2048, 2048)).save(small, format="PNG")

    def no_decoding(self, *args):
        raise AssertionError("decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ImageError, match="4,195,000 pixels, more than the 4,194,304 allowed"):
        check_image(buffer.getvalue(), "x")
    check_image(small.getvalue(), "x")  # at the limit: passes, and was not decoded either


def test_served_names_are_safe_and_distinct(tmp_path):
    for folder in ("a/lenet5", "b/lenet5", "c/my run (2)", "d/lenet5.v2"):
        (tmp_path / folder).mkdir(parents=True)
    paths = [tmp_path / "a/lenet5", tmp_path / "b/lenet5", tmp_path / "c/my run (2)",
             tmp_path / "a/lenet5/model.npz", tmp_path / "x/best.npz", tmp_path / "d/lenet5.v2"]
    assert served_names(paths) == ["lenet5", "lenet5-2", "my-run-2", "lenet5-3", "best",
                                   "lenet5.v2"]
