#!/usr/bin/env python3
"""A GPU's first contact in one command: probe, train, benchmark and test on the machine that
is lent, within 6 minutes, and leave at most 6 files that say what ran.

The machine lent (docs/gpu.md) has python3 3.12 with torch+cu130, cupy-cuda13x, numpy,
Pillow, tqdm, threadpoolctl, pytest and its plugins, but not array-api-compat nor
array-api-strict, and reaches no registry. So, here first, then there:

    python3 scripts/gpu_check.py --prepare     # here: .whl/ (the missing wheels), .gpu-data/
    python3 scripts/gpu_check.py --out "$OUT"  # there, from the repository root, with .whl
                                               # and .gpu-data carried beside the working tree

There it runs, each step within its own limit and all within ``--budget`` (360 s):

1. ``site``: unpacks into .gpu-site/ only the carried wheels whose packages the image lacks
   (the image's own stay in use) and checks that each one imports;
2. ``probe``: makes each GPU device of ``--devices`` (``cuda``: CuPy; ``torch:cuda``) with
   lenet_xp's own backend, in a process of its own, and records the GPU, the driver, CUDA,
   CuPy's and PyTorch's versions and the TF32 settings; the next steps run on every device
   that works (CuPy alone, torch:cuda alone, or both);
3. ``train``: one epoch of lenet5 on the real MNIST on each device, into a temporary folder;
   the epochs' records go to OUT/metrics.jsonl, each with its device;
4. ``bench``: ``scripts/bench.py`` on those devices against PyTorch's eager twin, batch 64,
   256 and 1024;
5. ``pytest``: ``pytest -m "gpu and not slow" -rfE --durations=20`` with what is left of the
   budget; at its limit it is interrupted (SIGINT), so that pytest still prints the failures
   so far and the slowest tests.

Each step's output goes to its log as it comes, and OUT/report.md is rewritten after every
step: a step that runs out of time, or a command that is killed, still leaves its partial
result. OUT then holds report.md, probe and site included, pytest.log, bench.log,
bench.json, train.log and metrics.jsonl: 6 files (the device tool returns at most 8). The
exit code is 0 only when every step passed. ``--devices array_api_strict:device1 --no-install
--quick`` is the dry run on the simulated accelerator (tests/test_gpu_check.py).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / ".whl"
DATA = ROOT / ".gpu-data"
SITE = ROOT / ".gpu-site"
MNIST = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

#: what lenet_xp and its tests need that the lent machine's image lacks (pure wheels)
MISSING_THERE = ("array-api-compat>=1.9", "array-api-strict>=2.5")
IMAGE_PYTHON = "3.12"
CARRY_LIMIT_MIB = 64  # what the device tool carries, the working tree included
OUT_FILES = ("report.md", "pytest.log", "bench.log", "bench.json", "train.log", "metrics.jsonl")

#: step -> its own time limit in seconds; pytest takes what is left of the budget
STEP_SECONDS = {"site": 20, "probe": 60, "train": 70, "bench": 70, "pytest": 360}
BUDGET_SECONDS = 360
INTERRUPT_GRACE_S = 20  # pytest's time to print its summary after SIGINT
TF32_VARIABLES = ("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "NVIDIA_TF32_OVERRIDE", "CUPY_TF32")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare", action="store_true",
                        help="here, where the registry is reachable: the wheels the image lacks "
                             "into .whl/, MNIST into .gpu-data/, then exit")
    parser.add_argument("--probe", metavar="DEVICE",
                        help="(internal) make DEVICE's backend and print what it is, as JSON")
    parser.add_argument("--devices", default="cuda,torch:cuda",
                        help="the devices to probe; the steps run on those that work (default: "
                             "cuda,torch:cuda; the dry run: array_api_strict:device1)")
    parser.add_argument("--data-dir", type=Path,
                        help="MNIST's four files (default: .gpu-data/, else ../shared/data/mnist)")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_check_out")),
                        help="where the 6 files go (default: $OUT, else gpu_check_out/)")
    parser.add_argument("--no-install", action="store_true",
                        help="use this Python's packages as they are (no wheels unpacked)")
    parser.add_argument("--pytest-args", default="-m 'gpu and not slow'",
                        help="what pytest selects (default: -m 'gpu and not slow')")
    parser.add_argument("--budget", type=float, default=BUDGET_SECONDS,
                        help=f"seconds for all steps together (default: {BUDGET_SECONDS})")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (the dry run): 2 timed batches, 2,000 training images")
    return parser.parse_args(argv)


# --- here: what the GPU machine will need ------------------------------------------------------

def prepare(python: str = sys.executable) -> int:
    """Download the wheels the image lacks and copy MNIST, for ``carry=[".whl", ".gpu-data"]``."""
    WHEELS.mkdir(exist_ok=True)
    subprocess.run([python, "-m", "pip", "download", "--only-binary=:all:", "--no-deps",
                    "--python-version", IMAGE_PYTHON, "--implementation", "py", "--abi", "none",
                    "--platform", "any", "-d", str(WHEELS), *MISSING_THERE], check=True)
    source = ROOT.parent / "shared" / "data" / "mnist"
    DATA.mkdir(exist_ok=True)
    for name in MNIST:
        shutil.copyfile(source / name, DATA / name)
    mib = sum(p.stat().st_size for folder in (WHEELS, DATA) for p in folder.iterdir()) / 2**20
    print(f"{WHEELS.name}/ and {DATA.name}/: {mib:.1f} MiB (the device tool carries at most "
          f"{CARRY_LIMIT_MIB} MiB with the working tree)")
    return 0 if mib < CARRY_LIMIT_MIB - 8 else 1


# --- there: the carried wheels, for what the image lacks only ---------------------------------

def wheel_packages(wheel: Path) -> list[str]:
    """The top-level importable names a wheel installs (its folders and modules)."""
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    return sorted(top.removesuffix(".py") for top in tops
                  if not top.endswith((".dist-info", ".data")))


def importable(name: str, python: str, env: dict) -> bool:
    """Whether ``python`` (with ``env``) imports ``name``."""
    return subprocess.run([python, "-c", f"import {name}"], env=env, capture_output=True,
                          timeout=60).returncode == 0


def unpack_missing(wheels: Path, site: Path, python: str, env: dict) -> list[str]:
    """Unpack into ``site`` each wheel whose packages ``python`` cannot import as it is (a
    wheel is a zip of what site-packages holds); lines saying what was done with each."""
    site.mkdir(exist_ok=True)
    lines = []
    for wheel in sorted(wheels.glob("*.whl")):
        names = wheel_packages(wheel)
        if all(importable(name, python, env) for name in names):
            lines.append(f"{wheel.name}: not used, the image has {', '.join(names)}")
            continue
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
        lines.append(f"{wheel.name}: unpacked into {site.name}/")
    return lines


def import_check(site: Path, python: str, env: dict) -> list[str]:
    """Each package unpacked into ``site``: its version and where it imports from."""
    lines = []
    for top in sorted(p.name.removesuffix(".py") for p in site.iterdir()
                      if not p.name.endswith((".dist-info", ".data")) and p.name != "__pycache__"):
        done = subprocess.run([python, "-c", f"import {top}; print(getattr({top}, '__version__', "
                                             f"'?'), {top}.__file__)"],
                              env=env, capture_output=True, text=True, timeout=60)
        lines.append(f"import {top}: " + (done.stdout.strip() if done.returncode == 0 else
                                          "FAILED " + done.stderr.strip().splitlines()[-1]))
    return lines


# --- there: probing a device -------------------------------------------------------------------

def probe(device: str) -> dict:
    """What ``device`` is, made by lenet_xp's backend (its TF32 pin included), with a small
    product computed on it and brought back."""
    import numpy as np

    from lenet_xp.backend import get_backend, to_numpy

    backend = get_backend(device)
    backend.use()
    x = backend.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    product = to_numpy(backend.xp.matmul(x, backend.xp.matrix_transpose(x)))
    info = {"device": backend.name, "product_ok": bool(np.allclose(product, [[5, 14], [14, 50]])),
            "numpy": np.__version__, **backend.describe()}
    if device.startswith("cuda"):
        import cupy
        runtime = cupy.cuda.runtime
        info.update(cuda_runtime=runtime.runtimeGetVersion(), driver=runtime.driverGetVersion())
    if device.startswith("torch:cuda"):
        import torch
        info.update(torch_cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return info


def nvidia_smi() -> str | None:
    """nvidia-smi's name, driver and memory of each GPU, where nvidia-smi is."""
    if shutil.which("nvidia-smi") is None:
        return None
    done = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                           "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
    return "; ".join(done.stdout.split("\n")).strip("; ") if done.returncode == 0 else None


# --- there: the steps --------------------------------------------------------------------------

class Check:
    """The steps run so far, within one time budget: each with its status, time, its log file
    (written as the step prints) and the lines the report keeps."""

    def __init__(self, out: Path, budget: float, env: dict):
        self.out, self.env = out, env
        self.deadline = time.monotonic() + budget
        self.steps: list[dict] = []

    def limit(self, name: str) -> float:
        return min(STEP_SECONDS[name], self.deadline - time.monotonic())

    def run(self, name: str, title: str, command: list[str], log: str | None = None,
            limit: float | None = None) -> dict:
        """Run ``command`` from the repository root within ``limit`` (the step's own, at most
        what is left of the budget); its output goes to OUT/``log`` (appended) as it comes,
        or is kept in the step where there is no log. At the limit it gets SIGINT, then
        INTERRUPT_GRACE_S seconds to finish, then SIGKILL."""
        limit = self.limit(name) if limit is None else limit
        step = {"name": name, "title": title, "command": command, "output": ""}
        start = time.monotonic()
        if limit <= 1:
            step.update(status="not run: the time budget was spent", seconds=0.0)
        else:
            sink = open(self.out / log, "a", encoding="utf-8") if log else tempfile.TemporaryFile("w+")
            with sink:
                process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=sink,
                                           stderr=subprocess.STDOUT, text=True)
                step["status"] = _wait(process, limit)
                if not log:
                    sink.seek(0)
                    step["output"] = sink.read()
            step["seconds"] = time.monotonic() - start
        self.steps.append(step)
        print(f"{title}: {step['status']} ({step['seconds']:.0f} s)", flush=True)
        return step

    def note(self, name: str, title: str, lines: list[str], ok: bool, seconds: float) -> None:
        """A step done here, in this process (the wheels)."""
        self.steps.append({"name": name, "title": title, "output": "\n".join(lines),
                           "status": "ok" if ok else "failed", "seconds": seconds})
        print(f"{title}: {'ok' if ok else 'failed'} ({seconds:.0f} s)", flush=True)

    @property
    def passed(self) -> bool:
        return all(step["status"] == "ok" for step in self.steps)


def _wait(process: subprocess.Popen, limit: float) -> str:
    """Wait for ``process`` up to ``limit`` seconds, then interrupt it; its status."""
    try:
        code = process.wait(timeout=limit)
        return "ok" if code == 0 else f"failed (exit {code})"
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return f"timed out after {limit:.0f} s (interrupted; what it printed is kept)"


def check(args) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    base_env = {**os.environ, "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                              if p)}
    env = dict(base_env)
    work = Check(args.out, args.budget, env)
    machine = {"nvidia-smi": nvidia_smi(), "python": platform.python_version(),
               "platform": platform.platform(),
               "tf32 environment": {v: os.environ.get(v) for v in TF32_VARIABLES}}
    if not args.no_install:
        start = time.monotonic()
        lines = unpack_missing(WHEELS, SITE, python, base_env)
        # only what the image lacks is there: nothing of the image's own is shadowed
        env["PYTHONPATH"] = os.pathsep.join((env["PYTHONPATH"], str(SITE)))
        lines += import_check(SITE, python, env)
        work.note("site", f"the carried wheels ({WHEELS.name}/)", lines,
                  bool(lines) and not any("FAILED" in line for line in lines),
                  time.monotonic() - start)
    devices = []
    probes = {}
    for device in args.devices.split(","):
        step = work.run("probe", f"probe {device}", [python, str(Path(__file__).resolve()),
                                                     "--probe", device],
                        limit=min(STEP_SECONDS["probe"] / 2, work.deadline - time.monotonic()))
        lines = step["output"].strip().splitlines()
        probes[device] = json.loads(lines[-1]) if step["status"] == "ok" and lines else None
        if probes[device] is not None:
            devices.append(device)
    write_report(args.out, work, machine, probes)
    if devices:
        train(work, args, python, devices)
        write_report(args.out, work, machine, probes)
        sizes = (["--batches", "2", "--warmup", "1", "--repeats", "1"] if args.quick else
                 ["--batches", "30", "--warmup", "5", "--repeats", "3"])
        work.run("bench", f"bench {','.join(devices)} against PyTorch's eager twin",
                 [python, "scripts/bench.py", "--device", ",".join(devices), "--vs-torch",
                  "--batch-size", "64,256,1024", *sizes, "--ranks", "1", "--quiet",
                  "--json", str(args.out / "bench.json")], log="bench.log")
        write_report(args.out, work, machine, probes)
    timeout_plugin = ["--timeout", "120"] if importable("pytest_timeout", python, env) else []
    work.run("pytest", f"pytest {args.pytest_args}",
             [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", "--durations=20",
              *timeout_plugin, *shlex.split(args.pytest_args)], log="pytest.log",
             limit=max(0.0, work.deadline - time.monotonic() - INTERRUPT_GRACE_S))
    write_report(args.out, work, machine, probes)
    left = sorted(p.name for p in args.out.iterdir())
    print(f"all of it in {args.out}/: {', '.join(left)} (of {', '.join(OUT_FILES)})")
    return 0 if work.passed and devices else 1


def train(work: Check, args, python: str, devices: list[str]) -> None:
    """One epoch of lenet5 on each device into a temporary folder; the epochs' records into
    OUT/metrics.jsonl, each marked with its device."""
    data_dir = args.data_dir or (DATA if DATA.exists() else ROOT.parent / "shared" / "data" / "mnist")
    limit = ["--train-limit", "2000", "--val-size", "500"] if args.quick else []
    share = work.limit("train") / len(devices)
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as runs:
        for device in devices:
            folder = Path(runs) / device.replace(":", "_")
            work.run("train", f"train lenet5 for 1 epoch on {device}",
                     [python, "scripts/train.py", "--device", device, "--epochs", "1",
                      "--data-dir", str(data_dir), "--out", str(folder), "--no-plot",
                      "--no-progress", "--ranks", "1", *limit], log="train.log", limit=share)
            metrics = folder / "metrics.jsonl"
            if metrics.exists():
                with (args.out / "metrics.jsonl").open("a", encoding="utf-8") as kept:
                    for line in metrics.read_text(encoding="utf-8").splitlines():
                        kept.write(json.dumps({"device": device, **json.loads(line)}) + "\n")


def write_report(out: Path, work: Check, machine: dict, probes: dict) -> None:
    """OUT/report.md: the machine, what each device is, each step's status and time, and what
    the logs hold that matters (pytest's failures and summary, the benchmark's table, the
    epochs); rewritten after every step, so that a killed check leaves what it had."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## {now}: scripts/gpu_check.py", "",
             f"GPU (nvidia-smi): {machine['nvidia-smi'] or 'none named'}; "
             f"Python {machine['python']}, {machine['platform']}.", "",
             f"TF32 variables in the environment: {json.dumps(machine['tf32 environment'])}.", "",
             "| device | what lenet_xp's backend made of it |", "|---|---|"]
    lines += [f"| {device} | {json.dumps(info) if info else 'does not work here (see probe)'} |"
              for device, info in probes.items()]
    lines += ["", "| step | status | seconds |", "|---|---|---|"]
    lines += [f"| {s['title']} | {s['status']} | {s['seconds']:.0f} |" for s in work.steps]
    for step in work.steps:
        if step["name"] in ("site", "probe") and (step["status"] != "ok" or step["name"] == "site"):
            lines += ["", f"{step['title']}:", "", "```text", *step["output"].splitlines()[-30:], "```"]
    for log, keep in (("train.log", _epochs), ("bench.log", _last(30)), ("pytest.log", _pytest)):
        path = out / log
        if path.exists():
            lines += ["", f"{log}:", "", "```text",
                      *keep(path.read_text(encoding="utf-8", errors="replace").splitlines()), "```"]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _last(n: int):
    return lambda lines: lines[-n:]


def _epochs(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(("epoch", "test accuracy", "note:"))
            or "error" in line.lower()][-20:]


def _pytest(lines: list[str]) -> list[str]:
    """pytest's failures and errors, its slowest tests and its summary line."""
    keep = [line for line in lines if line.startswith(("FAILED", "ERROR"))][:40]
    start = next((i for i, line in enumerate(lines) if "slowest" in line), None)
    if start is not None:
        keep += lines[start:min(start + 22, len(lines) - 2)]
    return keep + lines[-2:]


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.prepare:
        return prepare()
    if args.probe:
        print(json.dumps(probe(args.probe)))
        return 0
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
