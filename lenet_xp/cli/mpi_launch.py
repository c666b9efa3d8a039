"""Launching a script on N MPI ranks of this host: what ``scripts/train.py --ranks N`` and
``scripts/bench.py --ranks N`` run, as ``torchrun`` launches its workers.

The launcher owns its job, so that stopping it stops the ranks, however it is stopped
(:func:`run_on_ranks`): ``mpiexec`` runs in a session of its own, out of reach of the
terminal's Ctrl-C, which the launcher alone receives and passes on as SIGTERM (``mpiexec``
hands that to every rank); and each rank watches a pipe whose writing end the launcher alone
holds (:func:`guard_rank`), which the kernel closes when the launcher ends, even by
SIGKILL: the ranks then end too.
"""

from __future__ import annotations

import os
import select
import signal
import stat
import subprocess
import sys
import threading
import time

from ..runs.lock import release_all
from ..training.communicators import MPI_INSTALL_HINT, launched_rank, launched_ranks, mpiexec
from ..training.rank_report import say_ended, say_started
from .rank_watch import RankWatch
from .signals import STOP_SIGNALS, Stopped, stopping_on_signals

#: the environment variable that gives each rank the file descriptor of its launcher's pipe
LAUNCHER_FD = "LENET_XP_LAUNCHER_FD"
#: seconds the ranks have to stop after the launcher passed a signal on, before they are ended
STOP_GRACE_S = 5.0
#: seconds a rank has to stop after a stopping signal, before it ends itself (guard_rank)
STOP_DEADLINE_S = 2.0
#: the exit code of a rank that ends because its launcher has gone (128 + SIGHUP: it hung up)
ORPHAN_EXIT = 129


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


def run_on_ranks(command: list[str]) -> int:
    """Run ``command`` (a :func:`launch_command`) as this launcher's job; returns its exit
    code, or raises :class:`~lenet_xp.cli.rank_watch.RankLost` naming the rank whose death
    by a signal (``kill -9``, the system out of memory) made MPI end the job, whatever
    mpiexec's exit code (a rank that ended without saying so, see
    :mod:`~lenet_xp.cli.rank_watch`).

    SIGINT (Ctrl-C), SIGTERM or SIGHUP to the launcher: SIGTERM goes to ``mpiexec``, which
    passes it to every rank; once they have stopped (within :data:`STOP_GRACE_S`, else they
    are ended, or at once on a second signal) :class:`~lenet_xp.cli.signals.Stopped` is raised
    for the caller to say so. A launcher that is killed leaves ranks that end themselves
    (:func:`guard_rank`)."""
    read, write = os.pipe()
    watch = RankWatch()
    try:
        with stopping_on_signals():
            process = subprocess.Popen(command, env={**os.environ, LAUNCHER_FD: str(read),
                                                     **watch.environment},
                                       pass_fds=(read, watch.write), start_new_session=True)
            os.close(read)
            watch.start()
            try:
                code = process.wait()
            except Stopped:
                _stop(process, write)
                raise
    finally:
        _close(write)
    lost = watch.lost(code)
    if lost is not None:
        raise lost
    return code


def _stop(process: subprocess.Popen, write: int) -> None:
    """Stop the job: SIGTERM through mpiexec, then, if the ranks take too long or the user
    asks again, close the pipe (the ranks end themselves) and kill mpiexec."""
    try:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=STOP_GRACE_S)
    except (subprocess.TimeoutExpired, Stopped):
        _close(write)
        process.kill()
        process.wait()


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass  # closed already


def guard_rank() -> None:
    """In an MPI rank: a daemon thread that ends this process, whatever its main thread is
    doing (a collective MPI call included, where Python's signal handlers cannot run):

    - at once when the launcher of :func:`run_on_ranks` has gone (its pipe reads
      end-of-file), so that no rank outlives a launcher killed by SIGKILL;
    - :data:`STOP_DEADLINE_S` after a stopping signal, if the rank has not stopped by then
      (a rank waits forever in a collective call for a rank that has stopped).

    Either way the rank's run folder is let go first (its lock file removed). The rank also
    tells the launcher's watch that it started, and at its end that it ended
    (:mod:`~lenet_xp.training.rank_report`): a rank that never says so was killed.
    Outside MPI it does nothing."""
    if launched_ranks() <= 1:
        return
    say_started(launched_rank())  # the launcher names this rank if it ends without a word
    launcher = _launcher_pipe()
    signals_read, signals_write = os.pipe()
    os.set_blocking(signals_write, False)
    signal.set_wakeup_fd(signals_write)  # the C-level handler writes each signal's number here

    def guard():
        watched = [signals_read] + ([launcher] if launcher is not None else [])
        while True:
            ready, _, _ = select.select(watched, [], [])
            if launcher in ready and not os.read(launcher, 1):
                _end(ORPHAN_EXIT)  # the launcher is gone: nobody waits for this rank's result
            if signals_read in ready:
                received = [number for number in os.read(signals_read, 64)
                            if number in STOP_SIGNALS]
                if received:
                    time.sleep(STOP_DEADLINE_S)
                    _end(128 + received[0])

    threading.Thread(target=guard, name="guard-rank", daemon=True).start()


def _launcher_pipe() -> int | None:
    """The launcher's pipe (:data:`LAUNCHER_FD`), or None without one."""
    fd = os.environ.get(LAUNCHER_FD, "")
    try:
        return int(fd) if fd.isdigit() and stat.S_ISFIFO(os.fstat(int(fd)).st_mode) else None
    except OSError:
        return None  # the variable reached a process without the pipe


def _end(code: int) -> None:
    release_all()
    say_ended()  # os._exit skips what runs at exit
    sys.stdout.flush()
    os._exit(code)


def under_launcher() -> bool:
    """Whether this process is a rank of a job that :func:`run_on_ranks` launched (which then
    says, itself, that the job was stopped)."""
    return os.environ.get(LAUNCHER_FD, "").isdigit()
