"""Which rank of an MPI job ended first, for the launcher of :mod:`lenet_xp.cli.mpi_launch`:
each rank says which process it is on a pipe that the launcher reads (:func:`say_who`), and
the launcher watches those processes end (:class:`RankWatch`). When one rank is killed
(``kill -9``, the system out of memory), MPICH ends the others and the whole job with the
signal's number and a banner naming a pid; the launcher names the rank.
"""

from __future__ import annotations

import os
import select
import signal
import threading

#: the environment variable that gives each rank the file descriptor to say who it is on
REPORT_FD = "LENET_XP_REPORT_FD"
#: what usually sends a signal that kills a rank
CAUSES: dict[int, str] = {signal.SIGKILL: "kill -9, or the system out of memory",
          signal.SIGSEGV: "a crash", signal.SIGBUS: "a crash"}
#: the seconds the watch may take to read the last of the pipe once the job has ended
LAST_READ_S = 2.0


class RankLost(RuntimeError):
    """A job that MPI ended because a rank was killed by the signal ``code`` (mpiexec's exit
    code); the message names the rank where it is known."""

    def __init__(self, code: int, first: tuple[int, int] | None):
        cause = CAUSES.get(code)
        who = f"MPI rank {first[0]} (pid {first[1]})" if first else "an MPI rank"
        super().__init__(f"{who} was ended by signal {code} ({signal.Signals(code).name}"
                         f"{': ' + cause if cause else ''}), and MPI stopped the other ranks")
        self.code = code


def ended_by_signal(code: int) -> bool:
    """Whether mpiexec's exit ``code`` is a signal that ended a rank: lenet_xp's ranks exit
    0, 1 or 2 themselves, or 128 + a signal once they stop on one."""
    return 2 < code < 128 and code in signal.valid_signals()


def say_who(rank: int) -> None:
    """In a rank: write ``RANK PID`` on the launcher's pipe (nothing without one)."""
    fd = os.environ.get(REPORT_FD, "")
    if fd.isdigit():
        try:
            os.write(int(fd), f"{rank} {os.getpid()}\n".encode())
            os.close(int(fd))
        except OSError:
            pass  # the variable reached a process without the pipe


class RankWatch:
    """In the launcher: a pipe whose writing end the job inherits (:attr:`environment`,
    :attr:`write`), and a thread that reads who each rank is and waits for their processes
    to end (Linux's pidfds; elsewhere no rank is named). :attr:`first` is ``(rank, pid)`` of
    the rank that ended first, alone, while the others still ran: None until one has, or
    where several ended at once."""

    def __init__(self):
        self.read, self.write = os.pipe()
        self.environment = {REPORT_FD: str(self.write)}
        self.first: tuple[int, int] | None = None
        self._thread = threading.Thread(target=self._watch, name="rank-watch", daemon=True)

    def start(self) -> None:
        """Once the job is launched: let go of the writing end (the job holds it) and watch."""
        os.close(self.write)
        self._thread.start()

    def lost(self, code: int) -> RankLost:
        """The error of a job that ended with ``code``, a signal (:func:`ended_by_signal`)."""
        self._thread.join(LAST_READ_S)
        return RankLost(code, self.first)

    def _watch(self) -> None:
        ranks: dict[int, tuple[int, int]] = {}  # pidfd -> (rank, pid)
        reading, pending, anyone_ended = True, b"", False
        while reading or ranks:
            ready, _, _ = select.select(([self.read] if reading else []) + list(ranks), [], [])
            ended = [ranks.pop(fd) for fd in ready if fd in ranks]
            for fd in set(ready) - {self.read}:
                os.close(fd)
            if ended and not anyone_ended:
                self.first, anyone_ended = (ended[0] if len(ended) == 1 else None), True
            if self.read in ready:
                data = os.read(self.read, 4096)
                reading, pending = bool(data), pending + data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    rank, pid = map(int, line.split())
                    try:
                        ranks[os.pidfd_open(pid)] = (rank, pid)
                    except (AttributeError, OSError):
                        pass  # no pidfds here, or the rank has gone already: not named
        os.close(self.read)
