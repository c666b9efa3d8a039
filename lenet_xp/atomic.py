"""Files written all or nothing: a crash mid-write never leaves a torn file in place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

# The process's umask, read once at import (reading it means setting it): mkstemp creates
# files readable by their owner only, and a finished file should get the usual permissions.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_file(path, mode: str = "wb"):
    """``with atomic_file(path) as file: file.write(...)``: the data goes to a temporary file
    beside ``path``, is flushed to disk, then renamed over ``path`` (``os.replace``, atomic on
    POSIX and Windows). On any exception the temporary file is removed and ``path`` keeps its
    old content. ``mode`` is ``"wb"`` or ``"w"``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_UMASK)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
