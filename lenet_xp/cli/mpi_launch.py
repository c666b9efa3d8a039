"""Launching a script on N MPI ranks of this host: what ``scripts/train.py --ranks N`` and
``scripts/bench.py --ranks N`` run, as ``torchrun`` launches its workers."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ..training.communicators import MPI_INSTALL_HINT


def mpiexec() -> str | None:
    """The ``mpiexec`` beside this Python (the mpich wheel puts one in the virtual
    environment), else the first on PATH; None if there is none."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def launch_command(ranks: int, script: str, args: list[str]) -> list[str]:
    """The command that runs ``script args`` on ``ranks`` MPI ranks on this host (what
    ``scripts/train.py --ranks N`` runs, as ``torchrun`` launches its workers).

    Raises RuntimeError with the fix when no mpiexec is found."""
    launcher = mpiexec()
    if launcher is None:
        raise RuntimeError(f"--ranks needs MPI's mpiexec, which is not installed: {MPI_INSTALL_HINT}")
    return [launcher, "-n", str(ranks), sys.executable, script, *args]


def without_option(args: list[str], option: str) -> list[str]:
    """``args`` without ``option VALUE`` or ``option=VALUE`` (to pass the rest on)."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            kept.append(arg)
    return kept
