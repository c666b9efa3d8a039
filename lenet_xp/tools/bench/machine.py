"""Where a benchmark's numbers were taken: the machine, its CPU and BLAS threads, and a
warning when other processes already keep its cores busy."""

from __future__ import annotations

import datetime
import os
import platform
import resource
import sys

import numpy as np

from ...backend import THREAD_ENV_VARS, Backend, available_cores, blas_info


def cpu_model() -> str:
    """The processor's name from /proc/cpuinfo (Linux), else what platform says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _blas() -> dict:
    """numpy's BLAS and its live thread count; numpy's build record when threadpoolctl sees none."""
    blas = blas_info()
    if blas["name"] is not None:
        return blas
    try:
        built = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return {"name": built.get("name"), "version": built.get("version"), "threads": None}
    except (TypeError, KeyError, AttributeError):
        # numpy < 1.25 (no mode=) or a build record without BLAS: the version line says enough
        return blas


def machine_info(backend: Backend | None = None, torch=None) -> dict:
    """A JSON-able description of where the numbers were taken."""
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu_model(), "cpu_count": os.cpu_count(), "usable_cpus": available_cores(),
        "platform": platform.platform(), "python": platform.python_version(),
        "numpy": np.__version__, "blas": _blas(),
        "thread_env": {k: os.environ[k] for k in THREAD_ENV_VARS if k in os.environ},
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "torch": None, "torch_threads": None, "gpu": None,
    }
    if torch is not None:
        info["torch"], info["torch_threads"] = torch.__version__, torch.get_num_threads()
    if backend is not None:
        info.update(backend.describe())
    return info


def busy_note() -> str | None:
    """A warning when other processes already keep the usable cores busy (noisy timings)."""
    if not hasattr(os, "getloadavg"):
        return None
    usable = available_cores()
    load = os.getloadavg()[0]
    if load < usable - 0.5:
        return None
    return (f"the 1-minute load average was {load:.1f} on {usable} usable core(s) before the "
            "run: other processes compete for the CPU, so timings are noisy, and multi-threaded "
            "OpenMP pools (PyTorch on the CPU above all) can slow down sharply; --threads 1 "
            "or an idle machine gives steadier numbers")


def host_peak_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # bytes on macOS, KiB on Linux
