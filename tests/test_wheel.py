"""The sdist and the wheel: ``python -m build`` makes both, ``twine check --strict`` passes on
both, each holds what it should, and the wheel, installed into a fresh virtual environment
outside the repository, imports lenet_xp from there, finds its package data (the web app's
pages and scripts, LeNet-5's digit bitmaps) and trains, saves, loads and uses a model through
the library API (tests/wheel_smoke.py). Needs the dist extra (build, twine), and for the
install the package registry or pip's cache (the wheel's dependencies)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from docs_tools import ROOT, require
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


def test_the_wheel_installed_outside_the_repository_trains_and_classifies(dist, tmp_path):
    assert ROOT not in tmp_path.parents
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", str(dist["wheel"])],
                             capture_output=True, text=True, cwd=tmp_path)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    data = tmp_path / "mnist"
    write_fake_mnist(data, learnable_arrays(n_train=600, n_test=200))
    smoke = shutil.copy(ROOT / "tests" / "wheel_smoke.py", tmp_path)  # nothing of the repository on sys.path
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    ran = subprocess.run([str(python), smoke, str(data), str(tmp_path / "run")],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
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
