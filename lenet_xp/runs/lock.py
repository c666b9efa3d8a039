"""One run at a time in a run folder: ``run.lock``, locked by the run that owns the folder and
holding its pid, host, start time and command line for the message that refuses another.

The lock is the operating system's (``flock`` on the open file), so it is released when its
process ends, however it ends: a file left behind by a killed run is not locked, and the next
run takes it over, saying whose it was. A released lock's file is removed. Where there is no
``flock`` (Windows) the file's existence is the lock, and one left by a killed run is
named in the refusal, to be deleted by hand.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from .. import jsontext

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]  # no locks there: each use tests for None

LOCK = "run.lock"
#: the locks this process holds (:func:`release_all` lets go of them before an abrupt end)
_HELD: set[RunLock] = set()


class FolderBusy(RuntimeError):
    """The folder's lock is held by another run; the message says whose."""


class RunLock:
    """The lock of ``folder`` (which must exist), held from :meth:`acquire` to :meth:`release`.

    Raises FolderBusy when another process holds it, OSError when the file cannot be made.
    ``log`` is told when a lock left by a run that died is taken over."""

    def __init__(self, folder, log: Callable[[str], None] = print):
        self.path = Path(folder) / LOCK
        self._fd: int | None = None
        self._acquire(log)

    def _acquire(self, log) -> None:
        if fcntl is None:
            return self._create()
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _describe(_read(fd))
                os.close(fd)
                raise FolderBusy(f"{self.path.parent} is in use by another run ({owner}; "
                                 f"{self.path} says so): wait for it to end, or choose another "
                                 "--out") from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the owner released it (and removed the file) as we opened it
        previous = _read(fd)
        if previous:
            log(f"{self.path}: taking over from a run that ended without releasing it "
                f"({_describe(previous)})")
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_this_process()).encode())
        os.fsync(fd)
        self._fd = fd
        _HELD.add(self)

    def _create(self) -> None:
        """The lock without ``flock``: the file is created only where there is none."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            with open(self.path, "rb") as file:
                owner = _describe(_read(file.fileno()))
            raise FolderBusy(f"{self.path.parent} is in use by another run ({owner}; "
                             f"{self.path} says so): wait for it to end, or choose another "
                             f"--out; if no run uses it any more, delete {self.path}") from None
        os.write(fd, json.dumps(_this_process()).encode())
        self._fd = fd
        _HELD.add(self)

    def release(self) -> None:
        """Remove the file, then unlock (in this order, so no one locks a removed file;
        without ``flock``, close it first)."""
        if self._fd is None:
            return
        _HELD.discard(self)
        if fcntl is None:
            os.close(self._fd)
            self.path.unlink(missing_ok=True)
        else:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
        self._fd = None


def release_all() -> None:
    """Let go of every lock this process holds: for a process about to end without unwinding
    (``os._exit`` from another thread, see :func:`lenet_xp.cli.mpi_launch.guard_rank`)."""
    for lock in list(_HELD):
        lock.release()


def _this_process() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)}


def _read(fd: int) -> dict | None:
    """The owner a lock file names, or None (empty, or not written by lenet_xp)."""
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        owner = jsontext.loads(os.read(fd, 64 * 1024) or b"null")
    except ValueError:  # not UTF-8, not JSON, or nested too deep
        return None
    return owner if isinstance(owner, dict) else None


def _describe(owner: dict | None) -> str:
    if not owner:
        return "its owner unknown"
    return (f"pid {owner.get('pid', '?')} on host {owner.get('host', '?')}, started "
            f"{owner.get('started', '?')}")


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False
