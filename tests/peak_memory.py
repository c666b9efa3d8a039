"""Peak memory read from the processes themselves, for the hostile inputs whose harm is
memory: a command's largest resident set, as ``resource.getrusage`` reports it for a fresh
process whose only child is the command (so no earlier child of the test process counts). A
running server's is read from its ``/proc/PID/status``
(:func:`lenet_xp.tools.bench.web_load.memory_mib`)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20

#: runs argv[3:] as its only child, its address space capped at argv[2] bytes, then writes
#: the child's peak RSS (bytes) to argv[1]
_WRAPPER = """
import pathlib, resource, subprocess, sys
cap = int(sys.argv[2])
code = subprocess.run(sys.argv[3:], preexec_fn=lambda: resource.setrlimit(
    resource.RLIMIT_AS, (cap, cap))).returncode
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
pathlib.Path(sys.argv[1]).write_text(str(peak))
sys.exit(code)
"""
#: the address space a measured command may take: a regression fails its test with a
#: MemoryError instead of taking the machine's memory
CAP = 8 << 30


@dataclasses.dataclass(frozen=True)
class Measured:
    """A finished command: its exit ``code``, ``stdout``, ``stderr`` and ``peak`` RSS (bytes)."""

    code: int
    stdout: str
    stderr: str
    peak: int

    @property
    def peak_mib(self) -> float:
        return self.peak / MIB


def run_script(script: str, *args, tmp_path: Path, stdin=None, timeout: float = 300,
               cap: int = CAP) -> Measured:
    """scripts/``script``.py with ``args`` in a process of its own, its peak RSS measured and
    its address space capped at ``cap`` bytes; ``stdin`` is a file object (None: nothing)."""
    report = tmp_path / f"peak-{script}-{len(list(tmp_path.glob('peak-*')))}.txt"
    result = subprocess.run([sys.executable, "-c", _WRAPPER, str(report), str(cap), sys.executable,
                             str(ROOT / "scripts" / f"{script}.py"), *map(str, args)],
                            stdin=stdin if stdin is not None else subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=timeout)
    return Measured(result.returncode, result.stdout, result.stderr, int(report.read_text()))

