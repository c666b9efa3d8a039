"""What an MPI rank tells the launcher of ``--ranks N`` (:mod:`lenet_xp.cli.mpi_launch`) on
the pipe it inherits: ``start RANK PID`` once it runs (:func:`say_started`), and ``end RANK``
when it ends of its own accord, normally or after it reported its own error
(:func:`say_ended`: at exit, before MPI_Abort, before its guard ends it). A rank that started
and never said it ended was killed; the launcher's watch names it
(:mod:`lenet_xp.cli.rank_watch`). Without the pipe (a rank that ``mpiexec`` launched by
hand, one process) nothing is said.
"""

from __future__ import annotations

import atexit
import os

#: the environment variable that gives each rank the file descriptor of the launcher's pipe
REPORT_FD = "LENET_XP_REPORT_FD"

_reporting: list[tuple[int, int]] = []  # (the pipe's descriptor, this rank) once started


def say_started(rank: int) -> None:
    """Write ``start RANK PID`` on the launcher's pipe, and ``end RANK`` at exit
    (:func:`say_ended`). Nothing without a pipe, or a second time."""
    fd = os.environ.get(REPORT_FD, "")
    if not fd.isdigit() or _reporting:
        return
    try:
        os.set_inheritable(int(fd), False)  # what the rank starts must not hold the pipe open
    except OSError:
        return  # the variable reached a process without the pipe
    if _write(int(fd), f"start {rank} {os.getpid()}\n"):
        _reporting.append((int(fd), rank))
        atexit.register(say_ended)


def say_ended() -> None:
    """Write ``end RANK`` on the launcher's pipe (once; nothing without a pipe): this rank
    ends of its own accord, having said whatever went wrong itself."""
    if _reporting:
        fd, rank = _reporting.pop()
        _write(fd, f"end {rank}\n")
        os.close(fd)


def _write(fd: int, line: str) -> bool:
    try:
        os.write(fd, line.encode())
        return True
    except OSError:
        return False  # not a pipe, or the launcher has gone
