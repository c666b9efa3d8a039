"""scripts/gpu_check.py, the GPU's first contact in one command: its whole sequence (tests,
benchmark against the twin, 2 epochs, the dated section) as a dry run on the simulated
accelerator, and its parts that need no GPU (which wheels fit, the time budget)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scripts_loader import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    return load_script("gpu_check")


@pytest.mark.slow
def test_the_dry_run_tests_benchmarks_trains_and_records(shared_mnist, tmp_path):
    """The whole sequence with --device array_api_strict:device1 in place of cuda (on a GPU
    machine the script itself is the real run)."""
    device = "array_api_strict:device1"
    record = tmp_path / "gpu.md"
    record.write_text("# GPU runs\n")
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", device, "--no-install",
                           "--quick", "--data-dir", str(shared_mnist), "--out", str(tmp_path / "out"),
                           "--record", str(record), "--pytest-args",
                           "-m gpu tests/test_backend.py"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    section = (tmp_path / "out" / "section.md").read_text()
    assert record.read_text() == "# GPU runs\n\n" + section, "appended, once"
    assert section.startswith(f"## 20") and f"scripts/gpu_check.py on {device}" in section
    for title in ("pytest -m gpu tests/test_backend.py | ok", "against PyTorch's eager twin | ok",
                  f"train lenet5 for 2 epochs on {device} | ok"):
        assert title in section
    assert f"lenet5  {device}" in section, "the benchmark's table, batch 64 to 1024"
    assert "epoch  2/2" in section and "test accuracy" in section
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {
        "section.md", "bench.json", "pytest.log", "bench.log", "train.log", "run"}


def test_a_step_out_of_time_is_recorded_and_the_others_still_run(gpu_check, tmp_path):
    work = gpu_check.Check(tmp_path, budget=3, env=None)
    slow = work.run("pytest", "a step too slow", [sys.executable, "-c", "import time; time.sleep(30)"])
    assert slow["status"].startswith("timed out after") and slow["seconds"] < 10
    late = work.run("bench", "a step after the budget", [sys.executable, "-c", "print('hi')"])
    assert late["status"] == "not run: the time budget was spent" and not work.passed
    section = gpu_check.format_section(work, "cuda", "NVIDIA H200, 570.00, 143771 MiB")
    assert "| a step too slow | timed out after" in section and "NVIDIA H200" in section


def test_only_the_wheels_that_fit_this_python_are_unpacked(gpu_check, tmp_path):
    names = ["tqdm-4.67.1-py3-none-any.whl", "six-1.17.0-py2.py3-none-any.whl",
             "pillow-13.0.0-cp312-cp312-manylinux_2_28_x86_64.whl",
             "pillow-13.0.0-cp313-cp313-manylinux_2_28_x86_64.whl"]
    assert gpu_check.wheels_for_this_python(names, (3, 12)) == names[:3]
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "tiny-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("tiny/__init__.py", "ANSWER = 42\n")
    assert gpu_check.unpack_wheels(wheels, tmp_path / "site") == ["tiny-1.0-py3-none-any.whl"]
    assert (tmp_path / "site" / "tiny" / "__init__.py").read_text() == "ANSWER = 42\n"
