#!/usr/bin/env python3
"""A GPU's first contact in one command: test, benchmark and train on it, and record what ran.

GPUs are lent rarely and briefly, so everything is prepared here and the GPU machine, which
has only numpy and CuPy and no network, runs one command:

    python scripts/gpu_check.py --prepare       # here: wheels into .whl/, MNIST into .gpu-data/
    python scripts/gpu_check.py --out "$OUT"    # there, from the repository root (carry .whl
                                                # and .gpu-data with the working tree)

On the GPU it (1) unpacks the carried wheels (array-api-compat, tqdm, threadpoolctl, Pillow,
pytest, array-api-strict) into .gpu-site/, first on the path of every later step, without pip
or a network; (2) runs ``pytest -m gpu``; (3) benchmarks ``--device cuda`` and, where PyTorch
with CUDA is installed there, ``--device torch:cuda`` beside it, against PyTorch's eager twin,
at batch 64, 256 and 1024 (without PyTorch: lenet_xp alone, with a note); (4) trains lenet5
for 2 epochs with ``--device cuda``; (5) appends one dated section with what each step printed
to docs/gpu.md and writes it, the logs and the benchmark's JSON to ``--out``. Each step has
its own time limit and all of them together at most ``--budget`` seconds (8 minutes); a step
that fails or runs out of time is recorded and the next one still runs. The exit code is 0
only when every step passed.

``--device array_api_strict:device1 --no-install`` is the dry run of the whole sequence on the
simulated accelerator (tests/test_gpu_check.py runs it). docs/gpu.md says how to run it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / ".whl"
DATA = ROOT / ".gpu-data"
SITE = ROOT / ".gpu-site"
MNIST = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

#: what lenet_xp and its tests need beyond numpy and CuPy, with their own dependencies
#: (pytest's; exceptiongroup and tomli for Python 3.10)
PURE_WHEELS = ("array-api-compat>=1.9", "tqdm>=4.60", "threadpoolctl>=3", "pytest>=7",
               "iniconfig", "packaging", "pluggy", "pygments", "exceptiongroup", "tomli",
               "array-api-strict>=2.2")
#: Pillow is compiled: one wheel for each Python the GPU machine may have
PILLOW_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
CARRY_LIMIT_MIB = 64  # what the device tool carries with the working tree

#: step -> its own time limit, seconds (their sum stays within the default budget)
STEP_SECONDS = {"install": 60, "pytest": 210, "bench": 120, "train": 90}
BUDGET_SECONDS = 480


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare", action="store_true",
                        help="download the wheels into .whl/ and copy MNIST into .gpu-data/ "
                             "(here, where the package registry is reachable), then exit")
    parser.add_argument("--unpack", action="store_true",
                        help="only unpack the wheels of .whl/ into .gpu-site/ (the check's "
                             "first step), then exit")
    parser.add_argument("--device", default="cuda",
                        help="the device to check (default: cuda; the dry run: "
                             "array_api_strict:device1)")
    parser.add_argument("--data-dir", type=Path,
                        help="MNIST's four files (default: .gpu-data/, else ../shared/data/mnist)")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_check_out")),
                        help="where the section, the logs and the JSON go (default: $OUT, else "
                             "gpu_check_out/)")
    parser.add_argument("--record", type=Path, default=ROOT / "docs" / "gpu.md",
                        help="the file the dated section is appended to (default: docs/gpu.md)")
    parser.add_argument("--no-install", action="store_true",
                        help="use this Python's packages as they are (nothing unpacked)")
    parser.add_argument("--pytest-args", default="-m gpu",
                        help="what pytest runs (default: -m gpu)")
    parser.add_argument("--budget", type=float, default=BUDGET_SECONDS,
                        help=f"seconds for all steps together (default: {BUDGET_SECONDS})")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (the dry run in the tests): 2 timed batches, 2,000 "
                             "training images")
    return parser.parse_args(argv)


# --- here: what the GPU machine will need ------------------------------------------------------

def prepare(python: str = sys.executable) -> int:
    """Download the wheels and copy MNIST, for ``carry: [".whl", ".gpu-data"]``."""
    WHEELS.mkdir(exist_ok=True)
    pip = [python, "-m", "pip", "download", "--only-binary=:all:", "--no-deps", "-d", str(WHEELS)]
    # pure wheels only (tomli also comes compiled for one Python), for the oldest Python
    subprocess.run([*pip, "--python-version", PILLOW_PYTHONS[0], "--implementation", "py",
                    "--abi", "none", "--platform", "any", *PURE_WHEELS], check=True)
    for version in PILLOW_PYTHONS:
        subprocess.run([*pip, "--python-version", version, "--implementation", "cp",
                        "--platform", "manylinux_2_28_x86_64", "--platform",
                        "manylinux2014_x86_64", "Pillow"], check=True)
    source = ROOT.parent / "shared" / "data" / "mnist"
    DATA.mkdir(exist_ok=True)
    for name in MNIST:
        shutil.copy2(source / name, DATA / name)
    mib = sum(p.stat().st_size for folder in (WHEELS, DATA) for p in folder.iterdir()) / 2**20
    print(f"{WHEELS.name}/ and {DATA.name}/: {mib:.1f} MiB (the device tool carries at most "
          f"{CARRY_LIMIT_MIB} MiB)")
    return 0 if mib < CARRY_LIMIT_MIB else 1


# --- there: the check --------------------------------------------------------------------------

def wheels_for_this_python(names: list[str], version=sys.version_info) -> list[str]:
    """The wheel files that fit this Python: every pure one, and compiled ones of its version."""
    tag = f"cp{version[0]}{version[1]}"
    return [name for name in names
            if "-py3-none-any" in name or "-py2.py3-none-any" in name or f"-{tag}-" in name]


def unpack_wheels(wheels: Path, site: Path) -> list[str]:
    """Unpack the wheels that fit this Python into ``site`` (a wheel is a zip of what
    site-packages holds: no pip needed); returns their names."""
    site.mkdir(exist_ok=True)
    chosen = wheels_for_this_python(sorted(p.name for p in wheels.glob("*.whl")))
    for name in chosen:
        with zipfile.ZipFile(wheels / name) as wheel:
            wheel.extractall(site)
    return chosen


class Check:
    """The steps run so far, each with its status, time and output, within one time budget."""

    def __init__(self, out: Path, budget: float, env: dict):
        self.out, self.env = out, env
        self.deadline = time.monotonic() + budget
        self.steps: list[dict] = []

    def run(self, name: str, title: str, command: list[str]) -> dict:
        """Run ``command`` (from the repository root) within its step's limit and what is
        left of the budget; its output goes to OUT/NAME.log."""
        limit = min(STEP_SECONDS[name], self.deadline - time.monotonic())
        step = {"name": name, "title": title, "command": command, "output": ""}
        start = time.monotonic()
        if limit <= 1:
            step.update(status="not run: the time budget was spent", seconds=0.0)
        else:
            try:
                done = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True,
                                      text=True, timeout=limit)
                step["output"] = done.stdout + done.stderr
                step["status"] = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
            except subprocess.TimeoutExpired as exc:
                step["output"] = _text(exc.stdout) + _text(exc.stderr)
                step["status"] = f"timed out after {limit:.0f} s"
            step["seconds"] = time.monotonic() - start
        (self.out / f"{name}.log").write_text(step["output"], encoding="utf-8")
        self.steps.append(step)
        print(f"{title}: {step['status']} ({step['seconds']:.0f} s)", flush=True)
        return step

    @property
    def passed(self) -> bool:
        return all(step["status"] == "ok" for step in self.steps)


def _text(data) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def torch_twin_device(python: str, env: dict) -> str | None:
    """``torch:cuda`` where PyTorch with CUDA is installed here, else None."""
    probe = subprocess.run([python, "-c", "import torch; assert torch.cuda.is_available()"],
                           env=env, capture_output=True, timeout=60)
    return "torch:cuda" if probe.returncode == 0 else None


def check(args) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(SITE), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    python = sys.executable
    data_dir = args.data_dir or (DATA if DATA.exists() else ROOT.parent / "shared" / "data" / "mnist")
    work = Check(args.out, args.budget, env)
    if not args.no_install:
        work.run("install", f"unpack the wheels of {WHEELS.name}/",
                 [python, str(Path(__file__).resolve()), "--unpack"])
    work.run("pytest", f"pytest {args.pytest_args}",
             [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.pytest_args.split()])
    devices = [args.device]
    if args.device.startswith("cuda") and torch_twin_device(python, env):
        devices.append("torch:cuda")
    sizes = ["--batches", "2", "--warmup", "1", "--repeats", "1"] if args.quick else [
        "--batches", "50", "--warmup", "10", "--repeats", "3"]
    work.run("bench", f"bench {','.join(devices)} against PyTorch's eager twin",
             [python, "scripts/bench.py", "--device", ",".join(devices), "--vs-torch",
              "--batch-size", "64,256,1024", *sizes, "--ranks", "1", "--quiet",
              "--json", str(args.out / "bench.json")])
    limit = ["--train-limit", "2000", "--val-size", "500"] if args.quick else []
    work.run("train", f"train lenet5 for 2 epochs on {args.device}",
             [python, "scripts/train.py", "--device", args.device, "--epochs", "2",
              "--data-dir", str(data_dir), "--out", str(args.out / "run"), "--no-plot",
              "--no-progress", "--ranks", "1", *limit])
    section = format_section(work, args.device, gpu_name())
    (args.out / "section.md").write_text(section, encoding="utf-8")
    with args.record.open("a", encoding="utf-8") as record:
        record.write("\n" + section)
    print(f"appended to {args.record}; all of it in {args.out}/")
    return 0 if work.passed else 1


def gpu_name() -> str | None:
    """nvidia-smi's name, driver and memory of the first GPU, where nvidia-smi is."""
    if shutil.which("nvidia-smi") is None:
        return None
    done = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                           "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
    return done.stdout.splitlines()[0].strip() if done.returncode == 0 and done.stdout else None


def format_section(work: Check, device: str, gpu: str | None) -> str:
    """The dated Markdown section: the machine, each step's status and time, and what the
    steps printed that matters (pytest's summary, the benchmark's table, the epochs)."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    where = gpu or "nvidia-smi named no GPU (or is not installed)"
    lines = [f"## {now}: scripts/gpu_check.py on {device}", "",
             f"{where}; {platform.platform()}, Python {platform.python_version()}.", "",
             "| step | status | seconds |", "|---|---|---|"]
    lines += [f"| {s['title']} | {s['status']} | {s['seconds']:.0f} |" for s in work.steps]
    for step in work.steps:
        output = step["output"].rstrip().splitlines()
        if step["name"] == "pytest":  # the failures, then pytest's summary line
            output = [line for line in output if line.startswith(("FAILED", "ERROR"))][:20] + output[-1:]
        if step["name"] in ("pytest", "bench", "train"):
            lines += ["", f"{step['title']}:", "", "```text", *output[-40:], "```"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.prepare:
        return prepare()
    if args.unpack:
        print("\n".join(unpack_wheels(WHEELS, SITE)))
        return 0
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
