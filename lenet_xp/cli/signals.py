"""How a command-line run is stopped: SIGTERM and SIGHUP as Ctrl-C is, by an exception that
unwinds the run (its folder's lock released, its last checkpoint kept) and says which signal
it was, so the script prints one line and exits 128 + its number (130 for Ctrl-C).
"""

from __future__ import annotations

import contextlib
import signal

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
