"""How a command-line run is stopped: SIGTERM and SIGHUP as Ctrl-C is, by an exception that
unwinds the run (its folder's lock released, its last checkpoint kept) and says which signal
it was, so the script prints one line and exits 128 + its number (130 for Ctrl-C).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable

from ..runs.lock import release_all

#: the signals that stop a run: Ctrl-C, ``kill``, and a terminal that closed (no SIGHUP on
#: Windows)
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """A run stopped by ``signum``; a KeyboardInterrupt, so that whatever handles Ctrl-C
    handles it."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's code for a process ended by the signal: 128 + its number."""
        return 128 + self.signum


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal that stopped the run (a plain KeyboardInterrupt is Ctrl-C: 130)."""
    return interrupt.exit_code if isinstance(interrupt, Stopped) else 128 + signal.SIGINT


def _raise_stopped(signum, frame):
    raise Stopped(signum)


@contextlib.contextmanager
def stopping_on_signals():
    """Within the block SIGINT, SIGTERM and SIGHUP raise :class:`Stopped` in the main thread
    (``kill`` stops a run as Ctrl-C does); after it they have their former handlers back."""
    handlers = {signum: signal.signal(signum, _raise_stopped) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def stopped_in_one_line(work: Callable[[], int], line: str = "interrupted") -> int:
    """``work()``'s exit code; stopped by Ctrl-C, ``kill`` or a closed terminal
    (:func:`stopping_on_signals`), ``line`` on stderr and 128 + the signal (130 for Ctrl-C)
    instead of a traceback."""
    try:
        with stopping_on_signals():
            return work()
    except KeyboardInterrupt as stop:
        print(line, file=sys.stderr)
        return exit_code(stop)


def as_pool_worker() -> None:
    """In a worker process of a pool (a sweep's): the terminal's Ctrl-C, which reaches every
    process of the group, is left to the parent, which ends the workers with SIGTERM; on
    that a worker lets go of its run folder's lock and ends at once, 128 + SIGTERM (its last
    checkpoint is whole: checkpoints are written atomically)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _end_worker)


def _end_worker(signum, frame):
    release_all()
    os._exit(128 + signum)
