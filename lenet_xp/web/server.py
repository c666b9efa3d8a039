"""The server: the standard library's ThreadingHTTPServer (a thread per connection) with the
app's state, bound to 127.0.0.1 unless told otherwise, and stopped cleanly by Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import socket
import sys
from http.server import ThreadingHTTPServer
from typing import Callable

from .api import Api
from .handler import Handler
from .security import ALL_INTERFACES, MAX_PIXELS, HostCheck
from .served import Catalogue
from .static import load_files
from .testset import TestSet

#: seconds a connection may stay silent (while sending its request, or between requests)
TIMEOUT = 15.0


@dataclasses.dataclass
class WebApp:
    """Everything a request may use: the API, the static files, the hosts answered, and
    the socket timeout."""

    api: Api
    files: dict[str, tuple[bytes, str]]
    hosts: HostCheck
    timeout: float


class WebServer(ThreadingHTTPServer):
    """Serves ``app`` on ``host``:``port`` (0: a free port, see :attr:`url`); uploaded images
    may have up to ``max_pixels`` pixels."""

    daemon_threads = True  # Ctrl-C does not wait for connections still open
    request_queue_size = 64  # connections waiting to be accepted (the default 5 drops bursts)

    def __init__(self, catalogue: Catalogue, test_set: TestSet | None = None,
                 host: str = "127.0.0.1", port: int = 8000, timeout: float = TIMEOUT,
                 max_pixels: int = MAX_PIXELS):
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)
        self.host = host
        self.app = WebApp(api=Api(catalogue, test_set or TestSet(), max_pixels),
                          files=load_files(),
                          hosts=HostCheck(host, self.server_port), timeout=timeout)

    @property
    def exposed(self) -> bool:
        """Whether the server listens on every interface (anyone on the network reaches it)."""
        return self.host in ALL_INTERFACES

    @property
    def url(self) -> str:
        """The address to open in a browser on this machine."""
        host = "127.0.0.1" if self.exposed else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.server_port}/"


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def serve(server: WebServer, log: Callable[[str], None] = print,
          warn: Callable[[str], None] = _warn) -> None:
    """Serve until Ctrl-C, then close the socket and say so; ``warn`` is told when the
    server is open to the network."""
    catalogue = server.app.api.catalogue
    try:
        if server.exposed:
            warn(f"warning: listening on every interface ({server.host or 'all'}): anyone on "
                 f"your network can use this server at http://{socket.gethostname()}:"
                 f"{server.server_port}/; use the default --host 127.0.0.1 unless you mean it")
        log(f"serving {len(catalogue.models)} model(s) and {len(catalogue.runs)} run(s): "
            f"open {server.url} (Ctrl-C stops)")
        server.serve_forever()
    except KeyboardInterrupt:
        log("stopped")
    finally:
        server.server_close()
