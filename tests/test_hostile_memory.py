"""Issue 33's serious hostile inputs at their real sizes, tried as a user would, with the
memory read from the processes themselves (tests/peak_memory.py): a zip bomb inside an .npz,
an endless standard input, and an extreme PNG. The web server's (concurrent uploads, slow
clients) are in tests/test_web_limits.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hostile_files import MIB, zip_bomb
from mnist_files import learnable_arrays, train_quietly, write_fake_mnist
from peak_memory import run_script

ROOT = Path(__file__).resolve().parents[1]
DIGIT = ROOT / "docs" / "figures" / "lenet5_curves.png"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mnist")
    write_fake_mnist(folder, learnable_arrays(n_train=300, n_test=50))
    return folder


@pytest.fixture(scope="module")
def finished(data_dir, tmp_path_factory) -> Path:
    """A finished lenet5 run (1 epoch) on the small data set."""
    out = tmp_path_factory.mktemp("runs") / "lenet5"
    train_quietly(data_dir, out, {"epochs": 1})
    return out


def one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.slow
def test_a_zip_bomb_in_a_model_is_refused_everywhere_before_it_is_inflated(
        finished, data_dir, tmp_path):
    """Issue 33's bomb: model.npz and checkpoint.npz rewritten with ZIP_DEFLATED, 2 GiB of
    zeros after an entry's correct .npy data (2.3 MB files). Read whole before (peak RSS 4.26
    GB, exit 0); now every script refuses it from the zip's directory, exit 1, and stays
    small."""
    bomb = zip_bomb(finished / "model.npz", tmp_path / "model.npz", "param/C1.weight",
                    2048 * MIB, level=9)
    run = shutil.copytree(finished, tmp_path / "run")
    zip_bomb(finished / "checkpoint.npz", run / "checkpoint.npz", "optim/0/m", 2048 * MIB,
             level=9)
    (run / "model.npz").unlink()  # a run stopped before its end: --resume continues it
    assert bomb.stat().st_size < 3 * MIB
    commands = {
        "predict": ("predict", bomb, DIGIT),
        "evaluate": ("evaluate", bomb, "--data-dir", data_dir, "--no-verify"),
        "export": ("export", bomb, "-o", tmp_path / "bomb.onnx"),
        "serve": ("serve", bomb, "--port", 0),
        "resume": ("train", "--resume", run, "--ranks", 1, "--data-dir", data_dir),
    }
    for what, (script, *args) in commands.items():
        result = run_script(script, *args, tmp_path=tmp_path)
        entry = "optim/0/m" if what == "resume" else "param/C1.weight"
        assert result.code == 1, (what, result.stderr)
        assert (f"is not a readable lenet_xp file: its entry {entry} holds "
                f"{2048 * MIB + 728:,} bytes") in one_line(result.stderr), what
        assert result.peak_mib < 200, f"{what}: peak RSS {result.peak_mib:.0f} MiB"
    assert not (tmp_path / "bomb.onnx").exists()


def test_an_endless_standard_input_is_read_up_to_the_upload_limit(finished, tmp_path):
    """``predict.py MODEL - < /dev/zero`` grew to 7.6 GB in 15 s; now it reads what an upload
    may hold (1 MiB) and one byte more, says so in one line and exits 1."""
    from lenet_xp.data.images import MAX_STREAM_BYTES
    from lenet_xp.web.security import MAX_BODY

    assert MAX_STREAM_BYTES == MAX_BODY == MIB
    with open("/dev/zero", "rb") as zeros:
        result = run_script("predict", finished / "model.npz", "-", stdin=zeros,
                            tmp_path=tmp_path, timeout=60, cap=2 << 30)
    assert result.code == 1 and one_line(result.stderr) == (
        "error: <stdin>: more than 1,048,576 bytes, the most read of an image on a stream: "
        "give the image's path instead, or make it smaller")
    assert result.peak_mib < 200, f"peak RSS {result.peak_mib:.0f} MiB"


def test_a_png_of_3_by_10_million_pixels_is_refused_from_its_header(finished, tmp_path):
    """Issue 33: a 3x10,000,000 PNG with ink (a line across its middle row) was "no ink
    found", at 954 MB. Its shape holds no digit: refused from its header, at ~60 MiB."""
    import io

    import numpy as np
    from PIL import Image

    page = np.full((3, 10_000_000), 255, np.uint8)
    page[1, 3_000_000:7_000_000] = 0
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, format="PNG")
    (tmp_path / "thin.png").write_bytes(buffer.getvalue())
    del page
    result = run_script("predict", finished / "model.npz", tmp_path / "thin.png",
                        tmp_path=tmp_path)
    assert result.code == 1 and one_line(result.stderr) == (
        f"error: {tmp_path / 'thin.png'}: 10000000x3 is no digit's shape (one side 3,333,333 "
        "times the other, at most 50): crop the image to the digit")
    assert result.peak_mib < 200, f"peak RSS {result.peak_mib:.0f} MiB"
