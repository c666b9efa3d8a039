"""The server: the standard library's ThreadingHTTPServer (a thread per connection, at most
:data:`MAX_CONNECTIONS`) with the app's state, bound to 127.0.0.1 unless told otherwise, and
stopped cleanly by Ctrl-C.
"""

from __future__ import annotations

import functools
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..backend import available_cores
from .api import Api
from .handler import Handler, WebApp
from .security import (
    ALL_INTERFACES,
    MAX_PIXELS,
    MAX_RUNNING,
    MAX_WAITING,
    HostCheck,
    WorkLimit,
    map_large_blocks,
)
from .served import Catalogue
from .static import load_files
from .testset import TestSet

#: seconds a request has to arrive whole, its headers and body, from the moment the server
#: waits for it (a new connection, or the answer to the one before): a client that sends a
#: byte a second is dropped after that, as is one that says nothing
TIMEOUT = 15.0
#: connections served at a time, each by a thread of its own; one more waits, accepted but
#: unread, until one of them ends (each ends within :data:`TIMEOUT` of its last answer)
MAX_CONNECTIONS = 32


class WebServer(ThreadingHTTPServer):
    """Serves ``app`` on ``host``:``port`` (0: a free port, see :attr:`url`); uploaded images
    may have up to ``max_pixels`` pixels; ``connections`` are served at a time, and
    ``running`` uploads decoded and classified at a time (default: one a core, at most
    :data:`~lenet_xp.web.security.MAX_RUNNING`), ``waiting`` more waiting their turn."""

    daemon_threads = True  # Ctrl-C does not wait for connections still open
    request_queue_size = 64  # connections waiting to be accepted (the default 5 drops bursts)

    def __init__(self, catalogue: Catalogue, test_set: TestSet | None = None,
                 host: str = "127.0.0.1", port: int = 8000, timeout: float = TIMEOUT,
                 max_pixels: int = MAX_PIXELS, connections: int = MAX_CONNECTIONS,
                 running: int | None = None, waiting: int = MAX_WAITING):
        if ":" in host:
            self.address_family = socket.AF_INET6
        # bound first, for the port (0: a free one) the app's host check and address name; the
        # handlers, which take the app, are set below
        super().__init__((host, port), BaseHTTPRequestHandler)
        self.host = host
        self.app = WebApp(api=Api(catalogue, test_set or TestSet(), max_pixels),
                          files=load_files(), hosts=HostCheck(host, self.server_port),
                          timeout=timeout,
                          work=WorkLimit(running or min(available_cores(), MAX_RUNNING),
                                         waiting),
                          url=self.url)
        self.RequestHandlerClass = functools.partial(Handler, app=self.app)
        self._connections = threading.Semaphore(connections)
        self._closing = threading.Event()

    def process_request(self, request, client_address) -> None:
        """Serve the connection in a thread of its own once fewer than ``connections`` are
        served; until then it waits, accepted and unread (the server stops waiting when it
        is shut down)."""
        while not self._connections.acquire(timeout=0.1):
            if self._closing.is_set():
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connections.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def shutdown(self) -> None:
        self._closing.set()
        super().shutdown()

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
    server is open to the network. The process's large blocks get pages of their own
    (:func:`~lenet_xp.web.security.map_large_blocks`): what an upload's framing frees goes
    back to the system."""
    map_large_blocks()
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
