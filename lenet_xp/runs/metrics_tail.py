"""A run's ``metrics.jsonl`` read as the run writes it, a few new bytes at a time (the web
app follows runs that are still training with it; :func:`lenet_xp.runs.metrics.read_metrics`
reads a finished file at once)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from .metrics import parse_record


class MetricsTail:
    """The records of a ``metrics.jsonl`` that another process may be appending to.

    Each :meth:`read` takes only the bytes written since the last one. A last line without
    its newline is one the run is still writing: it is left for the next read. A file that
    was replaced (``RunFolder.restart`` rewrites it atomically when a run resumes) or that
    got shorter is read again from its start. A complete line that is not a JSON object is
    skipped and named in :attr:`problems`. Safe to call from several threads.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._reset(None)

    def _reset(self, identity) -> None:
        self._identity = identity  # (device, inode) of the file read so far
        self._offset = 0  # bytes consumed: up to the end of the last complete line
        self._lines = 0
        self._records: list[dict] = []
        self.problems: list[str] = []

    def read(self) -> list[dict]:
        """Every record so far, in file order (a new list; [] while the file is missing)."""
        with self._lock:
            try:
                with open(self.path, "rb") as file:
                    status = os.fstat(file.fileno())
                    identity = (status.st_dev, status.st_ino)
                    if identity != self._identity or status.st_size < self._offset:
                        self._reset(identity)
                    file.seek(self._offset)
                    self._consume(file.read())
            except FileNotFoundError:
                self._reset(None)
            return list(self._records)

    def _consume(self, chunk: bytes) -> None:
        *lines, partial = chunk.split(b"\n")
        self._offset += len(chunk) - len(partial)
        for line in lines:
            self._lines += 1
            if not line.strip():
                continue
            try:
                self._records.append(parse_record(line, f"{self.path}:{self._lines}"))
            except ValueError:  # not UTF-8, not JSON, nested too deep, or not an object
                self.problems.append(f"{self.path} line {self._lines} is not a JSON object: "
                                     "skipped")
