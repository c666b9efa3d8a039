"""scripts/gpu_check.py, the GPU's first contact in one command: its whole sequence (probe,
train, benchmark against the twin, pytest) as a dry run on the simulated accelerator, leaving
at most 6 files; and its parts that need no GPU: only the wheels the image lacks are used, a
step out of time is interrupted and keeps what it printed, the report names the failures."""

from __future__ import annotations

import json
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
def test_the_dry_run_probes_trains_benchmarks_tests_and_leaves_six_files(gpu_check, shared_mnist,
                                                                         tmp_path):
    """The whole sequence with --devices array_api_strict:device1 in place of cuda,torch:cuda
    (on a GPU machine the script itself is the real run)."""
    device, out = "array_api_strict:device1", tmp_path / "out"
    done = subprocess.run([sys.executable, str(SCRIPT), "--devices", f"{device},tpu",
                           "--no-install", "--quick", "--data-dir", str(shared_mnist),
                           "--out", str(out), "--pytest-args", "-m gpu tests/test_backend.py"],
                          capture_output=True, text=True, timeout=600)
    left = {p.name for p in out.iterdir()}
    assert left <= set(gpu_check.OUT_FILES) and len(left) <= 6, left
    report = (out / "report.md").read_text()
    assert done.returncode == 1, "tpu does not work: not all steps passed"
    assert "probe tpu | failed" in report and "unknown device 'tpu'" in report
    for title in (f"probe {device} | ok", f"train lenet5 for 1 epoch on {device} | ok",
                  "against PyTorch's eager twin | ok", "pytest -m gpu tests/test_backend.py | ok"):
        assert title in report
    assert '"product_ok": true' in report and "TF32 variables in the environment" in report
    assert f"lenet5  {device}" in report, "the benchmark's table, batch 64 to 1024"
    assert "epoch  1/1" in report and "slowest" in report
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs and {record["device"] for record in epochs} == {device}
    assert json.loads((out / "bench.json").read_text())["results"]


def test_a_step_out_of_time_is_interrupted_and_keeps_what_it_printed(gpu_check, tmp_path):
    """At its limit a step gets SIGINT, as Ctrl-C: pytest then prints its failures so far."""
    work = gpu_check.Check(tmp_path, budget=2.5, env=None)
    summary = ("import time\nprint('collected 630 items', flush=True)\ntry:\n    time.sleep(60)\n"
               "except KeyboardInterrupt:\n    print('FAILED tests/test_a.py::test_b')")
    slow = work.run("pytest", "a step too slow", [sys.executable, "-c", summary], log="pytest.log",
                    limit=2)
    assert slow["status"].startswith("timed out after 2 s") and slow["seconds"] < 15
    assert (tmp_path / "pytest.log").read_text() == ("collected 630 items\n"
                                                      "FAILED tests/test_a.py::test_b\n")
    late = work.run("bench", "a step after the budget", [sys.executable, "-c", "print('hi')"])
    assert late["status"] == "not run: the time budget was spent" and not work.passed
    gpu_check.write_report(tmp_path, work, {"nvidia-smi": "NVIDIA H100 80GB HBM3, 580.159.04, "
                                            "81559 MiB", "python": "3.12.3", "platform": "Linux",
                                            "tf32 environment": {}}, {"cuda": None})
    report = (tmp_path / "report.md").read_text()
    assert "| a step too slow | timed out after 2 s" in report and "NVIDIA H100" in report
    assert "FAILED tests/test_a.py::test_b" in report and "| cuda | does not work here" in report


def _wheel(folder: Path, name: str, package: str, source: str) -> Path:
    path = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{package}/__init__.py", source)
        wheel.writestr(f"{name}-1.0.dist-info/METADATA", f"Name: {name}\n")
    return path


def test_only_the_wheels_the_image_lacks_are_used_and_each_is_imported(gpu_check, tmp_path):
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    wheels.mkdir()
    _wheel(wheels, "carried", "carried_here", "__version__ = '1.0'\n")
    _wheel(wheels, "jsonish", "json", "raise ImportError('the image's json must win')\n")
    env = {"PATH": "/usr/bin:/bin"}
    assert gpu_check.wheel_packages(wheels / "carried-1.0-py3-none-any.whl") == ["carried_here"]
    lines = gpu_check.unpack_missing(wheels, site, sys.executable, env)
    assert lines == ["carried-1.0-py3-none-any.whl: unpacked into site/",
                     "jsonish-1.0-py3-none-any.whl: not used, the image has json"]
    assert not (site / "json").exists()
    checked = gpu_check.import_check(site, sys.executable, {**env, "PYTHONPATH": str(site)})
    assert checked == [f"import carried_here: 1.0 {site / 'carried_here' / '__init__.py'}"]
