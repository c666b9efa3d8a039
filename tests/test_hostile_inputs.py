"""The hostile inputs of docs/hostile_inputs.md, tried as a user would: each gets one line
(no traceback) and its exit code, and the page lists every one of them with that message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mnist_files import learnable_arrays, train_quietly, write_fake_mnist
from scripts_loader import load_script

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "hostile_inputs.md"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mnist")
    write_fake_mnist(folder, learnable_arrays(n_train=300, n_test=50))
    return folder


def call(script: str, *args, capsys) -> tuple[int, str, str]:
    """scripts/``script``.py's main(args) in this process: (exit code, stdout, stderr)."""
    try:
        code = load_script(script).main([str(a) for a in args])
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def quick(data_dir, out, *extra):
    """A short run's flags, in one process (--ranks 1: what one process does with bad input;
    the same refusals on MPI ranks are tested in test_training_data_parallel.py)."""
    return ["--data-dir", data_dir, "--no-verify", "--no-download", "--val-size", 100,
            "--no-plot", "--no-progress", "--epochs", 1, "--out", out, "--ranks", 1, *extra]


@pytest.mark.parametrize("flags, message", [
    (["--lr", "nan"], "argument --lr: expected a finite number, got 'nan'"),
    (["--lr", "inf"], "argument --lr: expected a finite number, got 'inf'"),
    (["--momentum=-inf"], "argument --momentum: expected a finite number, got '-inf'"),
    (["--weight-decay", "1e999"], "argument --weight-decay: expected a finite number"),
    (["--recipe", "gamma=NaN"], "--recipe gamma=NaN: not a finite number"),
    (["--recipe", "pieces=[["], "--recipe pieces=[[ is not valid JSON"),
    (["--train-limit", "0"], "argument --train-limit: must be >= 1, got 0"),
    (["--train-limit", "-5"], "argument --train-limit: must be >= 1, got -5"),
    (["--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
    (["--seed", "-1"], "argument --seed: must be >= 0, got -1"),
], ids=lambda value: value if isinstance(value, str) and value.startswith("-") else None)
def test_train_refuses_nonsense_at_parse_time(flags, message, capsys, tmp_path):
    code, _, err = call("train", "--out", tmp_path / "run", "--ranks", 1, *flags, capsys=capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags, message", [
    (["--recipe", "schedule=piecewise", "--recipe", "pieces=[[2]]"],
     "error: bad recipe: pieces must be [[epochs, lr], ...]"),
    (["--batch-size", "100000"], "error: batch size 100,000 is larger than the 200 training "
                                 "images: use --batch-size 200 or less"),
    (["--train-limit", "10"], "error: batch size 64 is larger than the 10 training images"),
])
def test_train_refuses_nonsense_before_training(flags, message, data_dir, capsys, tmp_path):
    code, out, err = call("train", *quick(data_dir, tmp_path / "run", *flags), capsys=capsys)
    assert code == 2 and one_line(err).startswith(message), err
    assert "epoch" not in out and not (tmp_path / "run").exists()


@pytest.mark.parametrize("content, message", [
    ('models = ["lenet5"]  # Rémi'.encode("latin-1"), "is not UTF-8 text (byte 0xe9"),
    (b"", "it says nothing to run"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "is not UTF-8 text"),
], ids=["latin-1", "empty", "png"])
def test_sweep_refuses_a_grid_file_it_cannot_use(content, message, capsys, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_bytes(content)
    code, out, err = call("sweep", grid, "--out", tmp_path / "sweep", capsys=capsys)
    assert code == 2 and message in one_line(err) and out == ""
    assert not (tmp_path / "sweep").exists()


@pytest.fixture(scope="module")
def finished(data_dir, tmp_path_factory) -> Path:
    """A finished lenet5 run (1 epoch) on the small data set."""
    out = tmp_path_factory.mktemp("runs") / "lenet5"
    train_quietly(data_dir, out, {"epochs": 1})
    return out


def _with_nan(source: Path, target: Path, names=("C1.weight", "OUT.bias")) -> Path:
    """``target``: the checkpoint ``source`` with a NaN in each of ``names``."""
    import numpy as np

    with np.load(source) as archive:
        arrays = {key: archive[key] for key in archive.files}
    for name in names:
        arrays[f"param/{name}"].reshape(-1)[0] = np.nan
    with target.open("wb") as file:
        np.savez(file, **arrays)
    return target


NAN_MESSAGE = ("holds non-finite numbers (NaN or infinity) in param/C1.weight (1 of 150), "
               "param/OUT.bias (1 of 10)")


def test_a_model_with_nan_weights_is_refused_everywhere(finished, data_dir, capsys, tmp_path):
    from lenet_xp.runs.checkpoint import CheckpointError
    from lenet_xp.inference import load_model
    from lenet_xp.web import ServeError, open_catalogue

    model = _with_nan(finished / "model.npz", tmp_path / "model.npz")
    with pytest.raises(CheckpointError, match=re.escape(NAN_MESSAGE)):
        load_model(model)
    with pytest.raises(ServeError, match=re.escape(NAN_MESSAGE)):
        open_catalogue([model])
    code, out, err = call("evaluate", model, "--data-dir", data_dir, "--no-verify", capsys=capsys)
    assert code == 1 and NAN_MESSAGE in one_line(err) and out == ""
    digit = ROOT / "docs" / "figures" / "lenet5_curves.png"
    code, out, err = call("predict", model, digit, capsys=capsys)
    assert code == 1 and NAN_MESSAGE in one_line(err) and out == ""


def test_predict_refuses_an_image_bomb_from_its_header_and_goes_on(finished, capsys, tmp_path):
    from test_data_images import png_bytes, png_header, seven

    (tmp_path / "bomb.png").write_bytes(png_header(13_300, 13_300))  # 176,890,000 pixels
    (tmp_path / "seven.png").write_bytes(png_bytes(seven()))  # 200x240
    code, out, err = call("predict", finished / "model.npz", tmp_path / "bomb.png",
                          tmp_path / "seven.png", capsys=capsys)
    assert code == 1 and out.count("seven.png: ") == 1
    assert one_line(err) == (f"error: {tmp_path / 'bomb.png'}: 13300x13300 is 176,890,000 "
                             "pixels, more than the 40,000,000 allowed (--max-pixels): make the "
                             "image smaller")
    code, out, err = call("predict", finished / "model.npz", tmp_path / "seven.png",
                          "--max-pixels", 47_999, capsys=capsys)
    assert code == 1 and "200x240 is 48,000 pixels, more than the 47,999 allowed" in one_line(err)


def _files(folder: Path) -> dict:
    """Every file of ``folder``: name -> (bytes, mtime)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_two_runs_into_one_folder_the_second_is_refused(data_dir, capsys, tmp_path):
    import json
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "train.py"),
                              *map(str, quick(data_dir, out)), "--epochs", "15"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "run.lock").exists():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        code, out_text, err = call("train", *quick(data_dir, out), capsys=capsys)
        assert code == 2 and out_text == ""
        assert one_line(err).startswith(f"error: {out} is in use by another run (pid "
                                        f"{first.pid} on host ")
    finally:
        stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("epoch") for r in records] == [*range(15), None], "one run's epochs, in order"
    assert not (out / "run.lock").exists()


def test_a_new_run_into_a_finished_runs_folder_is_refused_and_changes_nothing(
        finished, data_dir, capsys, tmp_path):
    import shutil

    run = shutil.copytree(finished, tmp_path / "run")
    before = _files(run)
    code, out, err = call("train", *quick(data_dir, run), capsys=capsys)
    assert code == 2 and out == "" and one_line(err) == (
        f"error: {run} holds a finished run (model.npz): continue it with --resume {run} "
        "--epochs N, choose another --out, or replace it with --overwrite")
    assert _files(run) == before
    code, out, err = call("train", *quick(data_dir, run), "--overwrite", "--seed", 3,
                          capsys=capsys)
    assert code == 0, err
    from lenet_xp.runs.checkpoint import load_checkpoint
    assert load_checkpoint(run / "model.npz").meta["config"]["seed"] == 3


def test_out_naming_a_file_is_one_line(data_dir, capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    code, out, err = call("train", *quick(data_dir, tmp_path / "notes.txt"), capsys=capsys)
    assert code == 2 and one_line(err) == (f"error: --out {tmp_path / 'notes.txt'} is a file, "
                                           "not a folder: choose a folder for the run's files")
    assert (tmp_path / "notes.txt").read_text() == "mine"


READ_ONLY_RUN = """
mount -t tmpfs -o ro,size=64k tmpfs "$1" && shift && exec "$@"
"""


def test_out_on_a_read_only_file_system_is_one_line(data_dir, tmp_path):
    """A real read-only file system: a tmpfs mounted read-only in a private mount namespace
    (``unshare -Urm``, no root needed where user namespaces are allowed); skipped elsewhere.
    tests/test_run_folder.py also simulates it at the OS boundary, everywhere."""
    import shutil
    import subprocess
    import sys

    unshare = shutil.which("unshare")
    mount = tmp_path / "ro"
    mount.mkdir()
    if unshare is None or subprocess.run([unshare, "-Urm", "sh", "-c", READ_ONLY_RUN, "sh",
                                          str(mount), "true"], capture_output=True).returncode:
        pytest.skip("cannot mount a read-only file system here (unshare -Urm is not allowed)")
    result = subprocess.run([unshare, "-Urm", "sh", "-c", READ_ONLY_RUN, "sh", str(mount),
                             sys.executable, str(ROOT / "scripts" / "train.py"),
                             *map(str, quick(data_dir, mount / "run"))],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and one_line(result.stderr) == (
        f"error: cannot make the folder {mount / 'run'} (Read-only file system): choose "
        "another --out")


def test_outputs_that_cannot_be_written_are_one_line(data_dir, capsys, tmp_path):
    """--out (or --json) naming a file, a folder, or a place under a file, in every script."""
    (tmp_path / "file").write_text("mine")
    (tmp_path / "folder").mkdir()
    grid = tmp_path / "grid.toml"
    grid.write_text('models = ["lenet5"]\n', encoding="utf-8")
    cases = [
        (("sweep", grid, "--out", tmp_path / "file", "--data-dir", data_dir), 2,
         f"error: --out {tmp_path / 'file'} is a file, not a folder"),
        (("bench", "--batch-size", 4, "--batches", 1, "--warmup", 0, "--repeats", 1, "--quiet",
          "--json", tmp_path / "folder"), 1, f"error: cannot write {tmp_path / 'folder'}"),
        (("distortions", "--data-dir", data_dir, "--no-verify", "--count", 1, "--copies", 1,
          "--out", tmp_path / "file" / "x.png"), 1,
         f"error: cannot write {tmp_path / 'file' / 'x.png'}"),
    ]
    for arguments, expected_code, message in cases:
        code, _, err = call(*arguments, capsys=capsys)
        assert code == expected_code and one_line(err).startswith(message), (arguments, err)
    assert (tmp_path / "file").read_text() == "mine"


@pytest.mark.parametrize("name, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_stops_a_run_with_one_line(data_dir, tmp_path, name, code):
    """Ctrl-C, and ``kill`` as Ctrl-C: one line, 128 + the signal, the folder let go."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "train.py"),
                                *map(str, quick(data_dir, out)), "--epochs", "500"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.npz").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(getattr(signal, name))
    _, err = process.communicate(timeout=60)
    assert process.returncode == code
    assert err == (f"interrupted: {out} keeps the last finished epoch's checkpoint; continue "
                   f"with --resume {out}\n")
    assert not (out / "run.lock").exists(), "the folder was let go"


def test_a_closed_output_pipe_stops_the_run_quietly(data_dir, tmp_path):
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "train.py"),
                                *map(str, quick(data_dir, tmp_path / "run"))],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `| head` does once it has its lines
    assert process.wait(timeout=300) == 141
    assert process.stderr.read() == b"" and not (tmp_path / "run" / "run.lock").exists()


def test_a_closed_pipe_ends_the_model_list_quietly():
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "train.py"),
                                "--list-models"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `--list-models | head` does once it has its lines
    assert process.wait(timeout=120) == 141
    assert process.stderr.read() == b""


def test_a_full_disk_mid_run_is_one_line(data_dir, capsys, tmp_path, monkeypatch):
    import errno
    import os

    from lenet_xp.runs.folder import RunFolder

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "checkpoint.npz")
    monkeypatch.setattr(RunFolder, "save_checkpoint", full)
    code, _, err = call("train", *quick(data_dir, tmp_path / "run"), capsys=capsys)
    assert code == 1 and one_line(err) == (
        f"error: cannot write the run's files ([Errno 28] No space left on device: "
        f"'checkpoint.npz'); {tmp_path / 'run'} holds no checkpoint yet (no epoch had ended): "
        "run the same command again")


def test_the_page_names_a_test_for_every_hostile_input():
    """docs/hostile_inputs.md: every row of its tables names the test that checks it, and
    every test named exists."""
    text = DOC.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines()
            if line.startswith("| ") and not line.startswith(("| input", "| what"))]
    tests = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "tests").glob("test_*.py"))
    named = set()
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        if len(cells) == 5:  # input | command | what it gets | exit | test
            found = re.findall(r"`(test_\w+)", cells[4])
            assert found or cells[4] == "same" or cells[4].startswith("same"), row
            named.update(found)
    assert len(named) >= 40
    missing = sorted(name for name in named if f"def {name}(" not in tests)
    assert not missing, f"docs/hostile_inputs.md names tests that do not exist: {missing}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/hostile_inputs.md)" in readme


def test_labels_beyond_the_models_classes_are_one_line_everywhere(finished, capsys, tmp_path):
    """Labels shifted by 200 (an EMNIST-format file would do this) with --no-verify trained
    to loss 0.0000 and accuracy 0 %, exit 0; evaluate.py failed on them with a usage error."""
    from lenet_xp.data import MNIST_FILES

    arrays = learnable_arrays(n_train=300, n_test=50)
    for name in MNIST_FILES[1::2]:  # the two label files
        arrays[name] = arrays[name] + 200
    write_fake_mnist(tmp_path / "emnist", arrays)
    labels = tmp_path / "emnist" / "train-labels-idx1-ubyte"
    code, out, err = call("train", *quick(tmp_path / "emnist", tmp_path / "run"), capsys=capsys)
    assert code == 1 and one_line(err) == (
        f"error: {labels} holds labels from 200 to 209, 300 of 300 beyond the model's 10 "
        "classes (0 to 9): give a dataset whose labels are 0 to 9")
    assert "epoch" not in out and not (tmp_path / "run").exists()
    code, out, err = call("evaluate", finished / "model.npz", "--data-dir", tmp_path / "emnist",
                          "--no-verify", "--no-download", capsys=capsys)
    assert code == 1 and "holds labels from 200 to 209, 300 of 300 beyond" in one_line(err)


def test_the_number_of_classes_comes_from_the_model():
    """A network of 3 outputs has 3 classes (nothing assumes MNIST's 10)."""
    import dataclasses

    from lenet_xp.layers import Flatten, Linear, Sequential
    from lenet_xp.models import MODELS, get_model

    def three(random, dtype="float32"):
        return Sequential(("flatten", Flatten()), ("OUT", Linear(32 * 32, 3, random=random)))

    assert dataclasses.replace(get_model("lenet5"), build=three).classes == 3
    assert {spec.classes for spec in MODELS.values()} == {10}


def test_what_is_not_a_regular_file_in_an_image_folder_is_skipped_with_a_line(finished, tmp_path):
    """A FIFO named like an image hung predict.py forever (it waited for a writer); a device
    or a socket may never end. Each is named and skipped, as a symlink loop is."""
    import os
    import shutil
    import socket
    import subprocess
    import sys

    folder = tmp_path / "digits"
    folder.mkdir()
    shutil.copy(ROOT / "docs" / "figures" / "predict_four.png", folder / "four.png")
    os.mkfifo(folder / "pipe.png")
    (folder / "null.png").symlink_to(os.devnull)
    (folder / "loop.png").symlink_to("loop.png")
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(folder / "socket.png"))
        result = subprocess.run([sys.executable, str(ROOT / "scripts" / "predict.py"),
                                 str(finished / "model.npz"), str(folder)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "four.png: " in result.stdout
    assert result.stderr.splitlines() == [
        f"error: {folder / 'loop.png'}: cannot read the file (Too many levels of symbolic links)",
        f"error: {folder / 'null.png'}: a character device, not an image file: skipped",
        f"error: {folder / 'pipe.png'}: a FIFO (named pipe), not an image file: skipped",
        f"error: {folder / 'socket.png'}: a socket, not an image file: skipped"]


def _with_meta(source: Path, target: Path, meta: str) -> Path:
    """``target``: the checkpoint ``source`` with its meta entry's text replaced by ``meta``."""
    import numpy as np

    with np.load(source) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["meta"] = np.array(meta)
    with target.open("wb") as file:
        np.savez(file, **arrays)
    return target


def _malformed_metas(model: Path) -> dict[str, tuple[str, str]]:
    """name -> (meta text, what the error says) for the malformed metas of issue 33."""
    import json

    meta = json.loads(_read_meta_text(model))
    deep = '{"format_version": 2, "model": "lenet5", "x": ' + "[" * 200_000 + "]" * 200_000 + "}"
    return {
        "model-list": (json.dumps({**meta, "model": ["lenet5"]}),
                       "its meta's model is a list, not text"),
        "config-list": (json.dumps({**meta, "config": [1, 2]}),
                        "its meta's config is a list, not an object"),
        "nested-200000": (deep, "its 'meta' entry is JSON nested deeper than 16 levels, which "
                                "lenet_xp never writes: not a lenet_xp file"),
        "input-size": (json.dumps({**meta, "data": {**meta["data"], "input_size": 10 ** 6}}),
                       "its meta's data.input_size is 1000000, where the lenet5 model has 32"),
    }


def _read_meta_text(model: Path) -> str:
    import numpy as np

    with np.load(model) as archive:
        return str(archive["meta"])


def test_a_malformed_meta_is_one_line_in_every_script(finished, data_dir, capsys, tmp_path):
    """``"model": ["lenet5"]``, ``"config": [1, 2]`` or JSON nested 200,000 deep gave
    tracebacks through predict, evaluate and serve; an input size of a million would pad
    each digit to 4 TB."""
    digit = ROOT / "docs" / "figures" / "predict_four.png"
    for name, (meta, message) in _malformed_metas(finished / "model.npz").items():
        model = _with_meta(finished / "model.npz", tmp_path / f"{name}.npz", meta)
        for script, *args in (("predict", model, digit),
                              ("evaluate", model, "--data-dir", data_dir, "--no-verify"),
                              ("serve", model, "--port", 0)):
            code, out, err = call(script, *args, capsys=capsys)
            assert code == 1 and one_line(err).startswith(f"error: {model}: {message}"), \
                (name, script, err)


def test_a_malformed_metrics_line_is_one_line_in_plot(finished, capsys, tmp_path):
    import shutil

    run = shutil.copytree(finished, tmp_path / "run")
    with (run / "metrics.jsonl").open("a") as file:
        file.write('{"event": "epoch", "x": ' + "[" * 200_000 + "]" * 200_000 + "}\n")
    lines = len((run / "metrics.jsonl").read_text().splitlines())
    code, out, err = call("plot", run, "--out", tmp_path / "curves.png", capsys=capsys)
    assert code == 1 and one_line(err) == (
        f"error: {run / 'metrics.jsonl'}:{lines}: JSON nested deeper than 16 levels, which "
        "lenet_xp never writes: fix or delete that line")


def test_a_malformed_meta_in_a_served_run_leaves_the_other_models_served(finished, tmp_path):
    """One served run folder's model.npz rewritten with a malformed meta made /api/models
    and /api/predict answer 500 for every model; now that run keeps the weights it had, and
    a model file that was never good is refused when the server starts."""
    import shutil

    from web_server import call as ask, running

    runs = [shutil.copytree(finished, tmp_path / name) for name in ("good", "bad")]
    digit = (ROOT / "docs" / "figures" / "predict_four.png").read_bytes()
    with running(runs) as server:
        assert ask(server, "POST", "/api/predict", body=digit)[0] == 200
        for name, (meta, _) in _malformed_metas(finished / "model.npz").items():
            _with_meta(finished / "model.npz", runs[1] / "model.npz", meta)
            status, _, answer = ask(server, "GET", "/api/models")
            assert status == 200 and [m["name"] for m in answer["models"]] == ["good", "bad"]
            status, _, answer = ask(server, "POST", "/api/predict", body=digit)
            assert status == 200 and all("top" in p for p in answer["predictions"]), name
            assert ask(server, "GET", "/api/runs/bad")[0] == 200


@pytest.mark.parametrize("damage, message", [
    ("truncated-gz", "is a corrupt gzip stream (Compressed file ended before the end-of-stream "
                     "marker was reached)"),
    ("corrupt-gz", "is a corrupt gzip stream"),
    ("empty", "is not an IDX file: it must start with two zero bytes, found an empty file"),
    ("2**31-images", "is truncated: header declares 1,683,627,180,032 bytes of data"),
])
def test_damaged_data_files_exit_1_in_every_script(finished, data_dir, damage, message,
                                                    capsys, tmp_path):
    """Exit 2 (a usage error) before, where docs/hostile_inputs.md and the README say 1."""
    import gzip
    import shutil

    import numpy as np

    folder = shutil.copytree(data_dir, tmp_path / "data")
    images = folder / "train-images-idx3-ubyte.gz"
    packed = images.read_bytes()
    damaged = {"truncated-gz": packed[:len(packed) // 2],
               "corrupt-gz": packed[:20] + bytes(len(packed) - 20),
               "empty": b"",
               "2**31-images": gzip.compress(bytes([0, 0, 8, 3]) + np.array(
                   [2 ** 31, 28, 28], ">u4").tobytes() + gzip.decompress(packed)[16:])}[damage]
    images.write_bytes(damaged)
    for script, *args in (("train", *quick(folder, tmp_path / "run")),
                          ("evaluate", finished / "model.npz", "--data-dir", folder,
                           "--no-verify", "--no-download"),
                          ("distortions", "--data-dir", folder, "--no-verify", "--count", 1,
                           "--out", tmp_path / "d.png")):
        code, _, err = call(script, *args, capsys=capsys)
        assert code == 1 and message in one_line(err), (script, err)


def _catching_sigterm(process, seconds: float = 60) -> bool:
    """Whether ``process`` catches SIGTERM (/proc/PID/status SigCgt) within ``seconds``: a
    script does once its work begins (lenet_xp.cli.signals.stopping_on_signals)."""
    import signal
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        status = Path(f"/proc/{process.pid}/status").read_text()
        caught = int(next(line.split()[1] for line in status.splitlines()
                          if line.startswith("SigCgt:")), 16)
        if caught >> (signal.SIGTERM - 1) & 1:
            return True
        time.sleep(0.05)
    return False


def test_ctrl_c_of_predict_and_evaluate_is_one_line(finished, tmp_path):
    """A KeyboardInterrupt traceback before (29 lines for evaluate.py); now one line, 130.
    predict.py waits on a standard input that never comes, evaluate.py on 60,000 digits."""
    import signal
    import subprocess
    import sys

    big = tmp_path / "big"
    write_fake_mnist(big, learnable_arrays(n_train=100, n_test=60_000))
    commands = [("predict", finished / "model.npz", "-"),
                ("evaluate", finished / "model.npz", "--data-dir", big, "--no-verify")]
    for script, *args in commands:
        process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / f"{script}.py"),
                                    *map(str, args)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert _catching_sigterm(process), script
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
        finally:
            process.kill()
        assert process.returncode == 130 and err == "interrupted\n", (script, err)


def test_ctrl_c_of_a_sweep_is_one_line_and_ends_its_workers(data_dir, tmp_path):
    """Ctrl-C reaches every process of the terminal's group: the sweep printed 22 lines of
    tracebacks (its own and its workers'). Now its workers leave it to the sweep, which ends
    them and says in one line what is kept; the runs let go of their folders."""
    import os
    import signal
    import subprocess
    import sys
    import time

    grid = tmp_path / "grid.toml"
    grid.write_text('models = ["lenet5"]\nseeds = [0, 1, 2]\n[recipe]\nepochs = 500\n'
                    '[run]\nval_size = 100\nverify = false\ndownload = false\n', encoding="utf-8")
    out = tmp_path / "sweep"
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "sweep.py"), str(grid),
                                "--out", str(out), "--data-dir", str(data_dir), "--workers", "2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # its own group, as a terminal's job
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("*/checkpoint.npz")):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)  # what the terminal's Ctrl-C does
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130 and err == (
        f"interrupted: {out} keeps the finished runs, and each run stopped its last finished "
        "epoch's checkpoint; run the same command to continue\n")
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # no worker is left
    assert not list(out.glob("*/run.lock")), "the runs let go of their folders"


def test_an_output_that_cannot_be_written_is_refused_before_any_work(finished, capsys,
                                                                     tmp_path):
    """export.py -o DIR and predict.py --show DIR printed raw errno text naming a temporary
    file (``[Errno 21] Is a directory: '.../.out.x1y2.tmp' -> ...``), after the whole export.
    Now the flag is checked when it is read: before the model is even opened."""
    (tmp_path / "file").write_text("mine")
    (tmp_path / "folder").mkdir()
    missing = tmp_path / "missing.npz"  # were anything done first, this would be the error
    digit = ROOT / "docs" / "figures" / "predict_four.png"
    cases = [
        (("export", missing, "-o", tmp_path / "folder"), "argument -o/--output: "
         f"{tmp_path / 'folder'} is a folder: name a file in it, such as "
         f"{tmp_path / 'folder' / 'model.onnx'}"),
        (("export", missing, "--draw", tmp_path / "file" / "graph.png"), "argument --draw: "
         f"cannot write {tmp_path / 'file' / 'graph.png'}: {tmp_path / 'file'} is a file, not "
         "a folder"),
        (("predict", missing, digit, "--show", tmp_path / "folder"), "argument --show: "
         f"{tmp_path / 'folder'} is a folder: name a file in it, such as "
         f"{tmp_path / 'folder' / 'seen.png'}"),
    ]
    for arguments, message in cases:
        code, out, err = call(*arguments, capsys=capsys)
        assert code == 2 and err.strip().splitlines()[-1].endswith(f"error: {message}"), err
    assert (tmp_path / "file").read_text() == "mine" and not any((tmp_path / "folder").iterdir())
    code, out, err = call("export", finished / "model.npz", "-o", tmp_path / "new" / "m.onnx",
                          capsys=capsys)
    assert code == 0 and (tmp_path / "new" / "m.onnx").is_file(), "folders to make are made"


def test_a_diverging_run_says_so_once_without_numpys_warnings(data_dir, tmp_path):
    """8 numpy RuntimeWarning lines (overflow in matmul, invalid value in multiply, ...)
    came before the divergence error; now the error alone (its own process: pytest would
    catch the warnings itself)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"),
                             *map(str, quick(data_dir, tmp_path / "run", "--lr", "1e8",
                                             "--recipe", "optimizer=sgd"))],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and result.stderr == (
        "error: the training loss became nan in epoch 1; try a lower --lr\n")


def test_ctrl_c_before_the_first_checkpoint_says_there_is_none(tmp_path):
    """It said "keeps the last finished epoch's checkpoint; continue with --resume", where
    there was none to continue. Ctrl-C as soon as the run handles it (setting up)."""
    import signal
    import subprocess
    import sys

    data = tmp_path / "data"
    write_fake_mnist(data, learnable_arrays(n_train=5000, n_test=50))
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "train.py"),
                                *map(str, quick(data, out))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert _catching_sigterm(process)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130 and err == (
        f"interrupted: {out} holds no checkpoint yet (no epoch had ended): run the same "
        "command again\n")
    assert not (out / "checkpoint.npz").exists()


def test_kill_9_of_one_mpi_rank_names_the_rank(data_dir, tmp_path):
    """The job ended with exit 9 and MPICH's banner alone (a pid); now the launcher of
    ``--ranks 2`` says which rank, by what, and what the folder keeps, whichever exit code
    mpiexec gives (9, the signal's number, or 143 from its clean-up of the other rank: the
    ranks say on the launcher's pipe that they started and ended, and rank 1 never ends)."""
    import importlib.util
    import os
    import signal
    import subprocess
    import sys
    import time

    from lenet_xp.cli.mpi_launch import mpiexec

    if mpiexec() is None or importlib.util.find_spec("mpi4py") is None \
            or not hasattr(os, "pidfd_open"):
        pytest.skip("needs mpi4py and MPI's mpiexec (pip install 'lenet_xp[mpi]'), and Linux's "
                    "pidfds to tell which rank ended first")
    out = tmp_path / "run"
    flags = [*quick(data_dir, out)[:-2], "--epochs", 500, "--ranks", 2, "--threads", 2]
    launcher = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "train.py"),
                                 *map(str, flags)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "checkpoint.npz").exists():
            assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()
            time.sleep(0.05)
        rank_1 = next(int(entry.name) for entry in Path("/proc").iterdir()
                      if entry.name.isdigit() and str(out).encode() in _read(entry / "cmdline")
                      and b"PMI_RANK=1\0" in _read(entry / "environ"))
        os.kill(rank_1, signal.SIGKILL)
        _, err = launcher.communicate(timeout=60)
    finally:
        launcher.kill()
    code = launcher.returncode
    signal_said = ("signal 9 (SIGKILL: kill -9, or the system out of memory)" if code in (9, 137)
                   else "a signal (kill -9, or the system out of memory? mpiexec's exit code "
                   f"{code} does not say which)")
    assert code != 0
    lenet_xp_lines = [line for line in err.splitlines() if line.startswith("error")]
    assert lenet_xp_lines == [(
        f"error: MPI rank 1 (pid {rank_1}) was ended by {signal_said}, and MPI stopped the other "
        f"ranks: {out} keeps the last finished epoch's checkpoint; continue with --resume {out}")
    ], err


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # a process that ended meanwhile
        return b""


@pytest.mark.parametrize("name", ["/tmp/x", "../../x", "..", "a/b", ""])
def test_a_grids_name_stays_under_the_sweep_folder(name, capsys, tmp_path, monkeypatch):
    """``name = "/tmp/x"`` made the sweep's default folder /tmp/x (runs/sweeps/NAME)."""
    import json

    monkeypatch.chdir(tmp_path)
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"name": name, "models": ["lenet5"]}), encoding="utf-8")
    code, out, err = call("sweep", grid, "--dry-run", capsys=capsys)
    assert code == 2 and out == "" and one_line(err) == (
        f"error: {grid}: bad grid: name {name!r} is not a plain folder name (letters, digits, "
        "'.', '_' and '-', not first '.' or '-'): it names the sweep's folder, runs/sweeps/NAME")


def test_a_grid_of_ten_million_runs_is_counted_before_it_is_expanded(capsys, tmp_path):
    """A 10^7-run grid with --dry-run was silent after 60 s (523 MB): the runs are now
    counted from the lengths of the grid's lists, and past --max-runs (1,000) refused."""
    import time
    import tracemalloc

    values = ", ".join(map(str, range(1, 11)))
    grid = tmp_path / "grid.toml"
    grid.write_text('models = ["lenet5"]\nseeds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n[grid]\n'
                    + "".join(f"{key} = [{values}]\n" for key in
                              ("epochs", "batch_size", "patience", "step_size", "sdlm_samples",
                               "distort_shift")), encoding="utf-8")
    start = time.monotonic()
    tracemalloc.start()
    try:
        code, out, err = call("sweep", grid, "--dry-run", capsys=capsys)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2 and out == "" and one_line(err) == (
        f"error: {grid}: bad grid: it makes 10,000,000 runs (models x [grid] values x seeds), "
        "more than the 1,000 a sweep runs unless told: make it smaller, or allow them with "
        "--max-runs 10000000")
    assert time.monotonic() - start < 10 and peak < 10e6
    small = tmp_path / "small.toml"
    small.write_text('models = ["lenet5"]\nseeds = [0, 1, 2]\n[grid]\nepochs = [1, 2]\n',
                     encoding="utf-8")
    code, out, err = call("sweep", small, "--dry-run", "--max-runs", 5, capsys=capsys)
    assert code == 2 and "it makes 6 runs" in one_line(err)
    code, out, err = call("sweep", small, "--dry-run", "--max-runs", 6, capsys=capsys)
    assert code == 0 and out.startswith("sweep small: 6 runs")


def test_a_checkpoints_data_folder_never_decides_where_a_resume_downloads(
        data_dir, capsys, tmp_path, monkeypatch):
    """A checkpoint whose config.data_dir is /etc made a resume download MNIST there. Now a
    folder a checkpoint names is only read, when it holds the four files; else --data-dir, or
    $LENET_XP_DATA, or the cache decides."""
    import json

    run = tmp_path / "run"
    code, _, err = call("train", *quick(data_dir, run, "--epochs", 1), capsys=capsys)
    assert code == 0, err
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    meta = json.loads(_read_meta_text(run / "checkpoint.npz"))
    meta["config"].update(data_dir=str(elsewhere), download=True)
    _with_meta(run / "checkpoint.npz", run / "checkpoint.npz", json.dumps(meta))
    (run / "model.npz").unlink()  # a run stopped before its end
    monkeypatch.setenv("LENET_XP_DATA", str(data_dir))
    code, out, err = call("train", "--resume", run, "--ranks", 1, "--epochs", 2, capsys=capsys)
    assert code == 0, err
    assert not any(elsewhere.iterdir()), "nothing was downloaded into the checkpoint's folder"
    from lenet_xp.runs.checkpoint import read_meta
    assert read_meta(run / "checkpoint.npz")["config"]["data_dir"] == str(data_dir)
