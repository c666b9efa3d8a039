"""The sdist and the wheel: ``python -m build`` makes both, ``twine check --strict`` passes on
both, each holds what it should, and the wheel, installed into a fresh virtual environment
outside the repository, imports lenet_xp from there, finds its package data (the web app's
pages and scripts, LeNet-5's digit bitmaps) and trains, saves, loads and uses a model through
the library API (tests/wheel_smoke.py); and its console command ``lenet-xp`` trains, evaluates,
predicts, exports and serves (one request, then SIGTERM) from there. Needs the dist extra
(build, twine), and for the install the package registry or pip's cache (the wheel's
dependencies, and onnx for the export)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from docs_tools import ROOT, require
from lenet_xp.data.mnist import TEST_IMAGES, TEST_LABELS
from mnist_files import learnable_arrays, write_fake_mnist

STATIC = sorted(path.name for path in (ROOT / "lenet_xp" / "web" / "static").iterdir())


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """The sdist and the wheel, built by ``python -m build`` (in its isolated environment)."""
    require("build", "twine", extra="dist")
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,), (sdist,) = out.glob("*.whl"), out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


def test_twine_check_passes_on_both(dist):
    check = subprocess.run([sys.executable, "-m", "twine", "check", "--strict",
                            str(dist["sdist"]), str(dist["wheel"])], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("PASSED") == 2


def test_the_wheel_holds_the_package_and_its_data_and_nothing_else(dist):
    names = set(zipfile.ZipFile(dist["wheel"]).namelist())
    sources = {path.relative_to(ROOT).as_posix() for path in (ROOT / "lenet_xp").rglob("*.py")}
    assert sources <= names
    assert {f"lenet_xp/web/static/{name}" for name in STATIC} <= names
    assert "lenet_xp/layers/digit_bitmaps.txt" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert not [name for name in names if not name.startswith("lenet_xp")]  # no tests, docs


def test_the_sdist_holds_the_source_tree_its_tests_need(dist):
    with tarfile.open(dist["sdist"]) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"pyproject.toml", "LICENSE", "README.md", "mkdocs.yml", "tests/conftest.py",
            "tests/mnist_files.py", "scripts/train.py", "sweeps/learning_rate.toml",
            "docs/tutorial.md", "docsite/notebook.py", "examples/lenet5_from_scratch.ipynb",
            "lenet_xp/layers/digit_bitmaps.txt"} <= names
    assert {f"lenet_xp/web/static/{name}" for name in STATIC} <= names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> dict[str, Path]:
    """A fresh virtual environment outside the repository holding the wheel, with its
    dependencies and the onnx extra (for ``lenet-xp export``); its folder, and made-up digits
    in MNIST's file format beside it."""
    where = tmp_path_factory.mktemp("installed")
    assert ROOT not in where.parents
    environment = where / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", f"{dist['wheel']}[onnx]"],
                             capture_output=True, text=True, cwd=where)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    arrays = learnable_arrays(n_train=600, n_test=200)
    write_fake_mnist(where / "mnist", arrays)
    four = arrays[TEST_IMAGES][np.flatnonzero(arrays[TEST_LABELS] == 4)[0]]
    Image.fromarray(four).save(where / "four.png")
    return {"root": where, "environment": environment, "python": python,
            "command": environment / "bin" / "lenet-xp", "data": where / "mnist",
            "four": where / "four.png"}


def _outside(installed) -> dict:
    """Where the installed environment's commands run: its folder, and an environment that
    names nothing of the repository (nothing of it on sys.path)."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    return {"cwd": installed["root"], "env": env}


def test_the_wheel_installed_outside_the_repository_trains_and_classifies(dist, installed, tmp_path):
    environment, python = installed["environment"], installed["python"]
    smoke = shutil.copy(ROOT / "tests" / "wheel_smoke.py", tmp_path)  # nothing of the repository on sys.path
    ran = subprocess.run([str(python), smoke, str(installed["data"]), str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=300, **{**_outside(installed), "cwd": tmp_path})
    assert ran.returncode == 0, ran.stderr[-3000:]
    found = json.loads(ran.stdout.strip().splitlines()[-1])
    assert Path(found["module"]).is_relative_to(environment)
    assert found["version"] == dist["wheel"].name.split("-")[1]
    assert found["web_files"] and set(found["web_files"]) <= set(STATIC)
    assert all(size == (ROOT / "lenet_xp" / "web" / "static" / name).stat().st_size
               for name, size in found["web_files"].items())
    assert found["digit_bitmaps"] == [10, 84]
    assert {"checkpoint.npz", "metrics.jsonl", "model.npz"} <= set(found["run_files"])
    assert found["test_accuracy"] >= 0.9
    assert found["loaded_accuracy"] == pytest.approx(found["test_accuracy"])


def test_the_wheel_s_command_trains_evaluates_predicts_exports_and_serves(dist, installed):
    """``lenet-xp`` from the environment's bin/, run in a folder outside the repository: a
    short training run, its evaluation, a digit file classified, the model exported to ONNX,
    and the web app answering from the package's own files until SIGTERM."""
    command, data, run = str(installed["command"]), str(installed["data"]), installed["root"] / "run"

    def lenet_xp(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([command, *args], capture_output=True, text=True, timeout=300,
                              **_outside(installed))
        assert done.returncode == 0, f"lenet-xp {args[0]}: {done.stderr[-3000:]}"
        return done

    assert lenet_xp("--version").stdout == f"lenet-xp {dist['wheel'].name.split('-')[1]}\n"
    lenet_xp("train", "--model", "lenet5", "--epochs", "2", "--val-size", "100", "--data-dir",
             data, "--no-verify", "--no-download", "--out", str(run), "--ranks", "1",
             "--no-progress", "--no-plot")
    assert {"checkpoint.npz", "metrics.jsonl", "model.npz"} <= {path.name for path in run.iterdir()}
    lenet_xp("evaluate", str(run / "model.npz"), "--data-dir", data, "--no-verify",
             "--no-download", "--json", str(installed["root"] / "eval.json"))
    assert json.loads((installed["root"] / "eval.json").read_text())["test_accuracy"] >= 0.9
    answer = json.loads(lenet_xp("predict", str(run / "model.npz"), str(installed["four"]),
                                 "--json").stdout)
    assert answer["top"][0][0] == 4
    onnx_file = installed["root"] / "lenet5.onnx"
    assert lenet_xp("export", str(run / "model.npz"), "-o", str(onnx_file)).stdout.startswith(
        f"wrote {onnx_file}: lenet5 as ONNX")
    _serve_one_request(command, run, installed)


def _serve_one_request(command: str, run: Path, installed) -> None:
    """``lenet-xp serve RUN --port 0``: the address it prints answers the Draw page (the
    package's own file) and lists the run's model; SIGTERM stops it, exit 0."""
    process = subprocess.Popen([command, "serve", str(run), "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, **_outside(installed))
    try:
        first = process.stdout.readline()
        assert "open http://127.0.0.1:" in first, process.stderr.read() if process.poll() is not None else first
        port = int(first.split("open ")[1].split()[0].rstrip("/").rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/")
        page = connection.getresponse()
        assert page.status == 200
        assert page.read() == (ROOT / "lenet_xp" / "web" / "static" / "draw.html").read_bytes()
        connection.request("GET", "/api/models")
        models = connection.getresponse()
        assert models.status == 200
        assert [model["name"] for model in json.loads(models.read())["models"]] == ["run"]
        connection.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "stopped" in process.stdout.read() and "Traceback" not in process.stderr.read()
    finally:
        process.kill()
        process.wait()
