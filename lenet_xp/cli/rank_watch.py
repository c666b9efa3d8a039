"""Which rank of an MPI job was killed, for the launcher of :mod:`lenet_xp.cli.mpi_launch`.

Each rank reports on a pipe that the launcher reads (:mod:`lenet_xp.training.rank_report`):
``start RANK PID`` once it runs, and ``end RANK`` when it ends of its own accord, normally or
after it reported its own error (at exit, before MPI_Abort, before a guard ends it).
The launcher watches the ranks' processes end (:class:`RankWatch`): a rank that ended without
saying so, while no rank had yet said it ended, was killed (``kill -9``, the system out of
memory), and MPI then ended the others. The launcher names it whatever mpiexec's exit code
is: MPICH exits with the killing signal's number, or with 143 (the SIGTERM of its own
clean-up of the other ranks), or with another rank's code, depending on which it saw first.
"""

from __future__ import annotations

import os
import select
import signal
import threading

from ..training.rank_report import REPORT_FD
from .signals import STOP_SIGNALS

#: what usually sends a signal that kills a rank
CAUSES: dict[int, str] = {signal.SIGKILL: "kill -9, or the system out of memory",
                          signal.SIGSEGV: "a crash", signal.SIGBUS: "a crash"}
#: the seconds the watch may take to read the last of the pipe once the job has ended
LAST_READ_S = 2.0


class RankLost(RuntimeError):
    """A job that MPI ended because a rank was killed: ``killed`` is ``(rank, pid)`` of that
    rank, None where it is not known which; ``code`` is mpiexec's exit code, which names the
    signal where it can (:func:`killing_signal`). :attr:`code` is the launcher's exit code:
    mpiexec's, 1 where that was 0."""

    def __init__(self, code: int, killed: tuple[int, int] | None):
        who = f"MPI rank {killed[0]} (pid {killed[1]})" if killed else "an MPI rank"
        number = killing_signal(code)
        if number is None:
            how = (f"by a signal (kill -9, or the system out of memory? mpiexec's exit code "
                   f"{code} does not say which)")
        else:
            cause = CAUSES.get(number)
            how = (f"by signal {number} ({signal.Signals(number).name}"
                   f"{': ' + cause if cause else ''})")
        super().__init__(f"{who} was ended {how}, and MPI stopped the other ranks")
        self.code = code or 1


def killing_signal(code: int) -> int | None:
    """The signal that mpiexec's exit ``code`` says killed a rank, or None: MPICH exits with
    the signal's number (3 to 127; lenet_xp's ranks exit 0, 1 or 2 themselves), a shell with
    128 + it. 128 + a stopping signal (SIGINT, SIGTERM, SIGHUP) says nothing: lenet_xp's ranks
    exit so when they stop, and MPICH's clean-up of the other ranks sends SIGTERM."""
    number = code - 128 if code > 128 else code
    if number <= 2 or number in STOP_SIGNALS or number not in signal.valid_signals():
        return None
    return number


class RankWatch:
    """In the launcher: a pipe whose writing end the job inherits (:attr:`environment`,
    :attr:`write`), and a thread that reads the ranks' reports and waits for their processes
    to end (Linux's pidfds, in the order the kernel saw them end: one epoll).

    :attr:`killed` is ``(rank, pid)`` of the first rank whose process ended without its
    ``end`` line while no rank had said it ended (None until one has); :attr:`started` and
    :attr:`ended` are the ranks that said so."""

    def __init__(self):
        self.read, self.write = os.pipe()
        self.environment = {REPORT_FD: str(self.write)}
        self.started: dict[int, int] = {}  # rank -> pid
        self.ended: set[int] = set()
        self.killed: tuple[int, int] | None = None
        self.pidfds = hasattr(os, "pidfd_open") and hasattr(select, "epoll")
        self._thread = threading.Thread(target=self._watch, name="rank-watch", daemon=True)

    def start(self) -> None:
        """Once the job is launched: let go of the writing end (the job holds it) and watch."""
        os.close(self.write)
        self._thread.start()

    def lost(self, code: int) -> RankLost | None:
        """Once the job has ended with mpiexec's exit ``code``: the error naming the rank that
        was killed, or None where the ranks ended of their own accord (each said so, or one
        did before MPI ended the others). Without pidfds, a rank is named where it alone never
        said it ended and no other did."""
        self._thread.join(LAST_READ_S)
        if self.killed is not None:
            return RankLost(code, self.killed)
        silent = sorted(set(self.started) - self.ended)
        if self.pidfds or self.ended or not silent:
            return None
        return RankLost(code, (silent[0], self.started[silent[0]]) if len(silent) == 1 else None)

    def _watch(self) -> None:
        """The thread: the ranks' reports and their processes' ends, taken one at a time in
        the order they happened (one epoll over the pipe and each rank's pidfd), until the
        pipe is closed (the job has ended) and every watched rank has ended."""
        poll = select.epoll() if self.pidfds else None
        if poll is not None:
            poll.register(self.read, select.EPOLLIN)
        processes: dict[int, int] = {}  # pidfd -> rank
        reading, pending = True, b""
        while reading or processes:
            for fd, _ in poll.poll() if poll is not None else [(self.read, select.POLLIN)]:
                if fd in processes and poll is not None:
                    poll.unregister(fd)
                    os.close(fd)
                    self._process_ended(processes.pop(fd))
                    continue
                data = os.read(self.read, 65536)
                reading, pending = bool(data), pending + data
                *lines, pending = pending.split(b"\n")
                for rank, pid in self._heard(lines):
                    self._watch_rank(rank, pid, poll, processes)
                if not reading and poll is not None:
                    poll.unregister(self.read)
        if poll is not None:
            poll.close()
        os.close(self.read)

    def _heard(self, lines: list[bytes]) -> list[tuple[int, int]]:
        """Note the ``end`` lines among ``lines``; the ``(rank, pid)`` of its ``start`` lines,
        to watch. Anything else is not a rank's report, and is passed over."""
        starts = []
        for line in lines:
            word, *numbers = line.split() or [b""]
            if word == b"end" and len(numbers) == 1 and numbers[0].isdigit():
                self.ended.add(int(numbers[0]))
            elif word == b"start" and len(numbers) == 2 and all(n.isdigit() for n in numbers):
                starts.append((int(numbers[0]), int(numbers[1])))
        return starts

    def _watch_rank(self, rank: int, pid: int, poll, processes: dict[int, int]) -> None:
        """A rank that said it started: noted in :attr:`started`, its pidfd in ``poll`` and
        ``processes`` (without pidfds it is only noted; gone already, it has ended)."""
        pidfd = self._pidfd(pid) if poll is not None else None
        self.started[rank] = pid  # once it is watched: a test waits for this
        if pidfd is not None:
            processes[pidfd] = rank
            poll.register(pidfd, select.EPOLLIN)
        elif self.pidfds:
            self._process_ended(rank)

    def _pidfd(self, pid: int) -> int | None:
        """A pidfd of process ``pid``; None where it has ended already, or where the kernel
        has no pidfds (then :attr:`pidfds` is False: the reports alone decide)."""
        try:
            return os.pidfd_open(pid)
        except ProcessLookupError:
            return None
        except OSError:
            self.pidfds = False
            return None

    def _process_ended(self, rank: int) -> None:
        """A rank's process has ended: killed, if it had not said so and no rank had."""
        if self.killed is None and not self.ended:
            self.killed = (rank, self.started[rank])
