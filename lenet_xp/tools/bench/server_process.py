"""The web app's server in a child process, for the measurements that need a real one
(``scripts/serve_load.py``, ``scripts/draw_latency.py``): ``python -m lenet_xp serve PATHS
--port 0`` started, its address read from the first line it prints, and stopped with SIGTERM
(a shell's background job ignores SIGINT, and so do its children)."""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import sys
from collections.abc import Iterator


class ServerDidNotStart(RuntimeError):
    """The server ended, or printed something else, before its address."""


@dataclasses.dataclass(frozen=True)
class RunningServer:
    """A started server: its ``url`` (``http://127.0.0.1:PORT/``), ``port`` and ``pid``."""

    url: str
    port: int
    pid: int


@contextlib.contextmanager
def serving(paths: list[str]) -> Iterator[RunningServer]:
    """Serve the runs or models ``paths`` while the block runs; raises ServerDidNotStart with
    what the server said instead of its address."""
    process = subprocess.Popen([sys.executable, "-m", "lenet_xp", "serve", *paths,
                                "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None  # stdout=PIPE
        line = process.stdout.readline()
        if "open http://" not in line:
            raise ServerDidNotStart(f"lenet-xp serve did not start "
                                    f"({line.strip() or 'no output'})")
        url = line.split("open ")[1].split()[0]
        port = int(url.split("//")[1].split("/")[0].rsplit(":", 1)[1])
        yield RunningServer(url, port, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
