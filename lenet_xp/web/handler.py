"""One HTTP request, from the socket to the answer: the deadline of the whole request, the
``Host`` and ``Origin`` checks, the body limits, the fixed table of static files, the API
(uploads in their turn), and the headers every answer carries. Any failure is a JSON
``{"error": ...}`` with its status; the server keeps serving.
"""

from __future__ import annotations

import dataclasses
import io
import json
import socket
import sys
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from .api import Api, ApiError
from .security import MAX_BODY, RETRY_AFTER, Busy, HostCheck, WorkLimit

#: what the pages may load: their own files, from this server only
CONTENT_SECURITY_POLICY = ("default-src 'self'; base-uri 'none'; form-action 'none'; "
                           "frame-ancestors 'none'")


class DeadlineReader(io.RawIOBase):
    """A socket read against a deadline: each read waits at most until ``deadline()`` (a
    ``time.monotonic()`` instant), so a request trickling in a byte a second ends there too,
    with TimeoutError, as a silent one does."""

    def __init__(self, connection: socket.socket, deadline: Callable[[], float]):
        self.connection, self.deadline = connection, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline() - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive whole in time")
        self.connection.settimeout(left)
        return self.connection.recv_into(buffer)


@dataclasses.dataclass
class WebApp:
    """Everything a request may use: the API, the static files, the hosts answered, the
    time a request has to arrive whole, the limit of uploads worked on at a time, and the
    address to open (which a refusal names)."""

    api: Api
    files: dict[str, tuple[bytes, str]]
    hosts: HostCheck
    timeout: float
    work: WorkLimit
    url: str


class Handler(BaseHTTPRequestHandler):
    """Answers GET and POST with ``app``, one handler a connection, as a
    :class:`lenet_xp.web.server.WebServer` makes them."""

    server_version = "lenet_xp"
    sys_version = ""

    def __init__(self, request, client_address, server, *, app: WebApp):
        self.app = app  # first: the base class's __init__ handles the connection
        super().__init__(request, client_address, server)

    def setup(self) -> None:
        # a request's time to arrive whole, and how long each write of an answer may wait (the
        # class's own timeout stays None: socketserver's setup leaves the socket to this one)
        self.time_limit = self.app.timeout
        self.deadline = time.monotonic() + self.time_limit
        super().setup()
        self.connection.settimeout(self.time_limit)
        self.rfile = io.BufferedReader(DeadlineReader(self.connection, lambda: self.deadline))

    def handle_one_request(self) -> None:
        """One request, which has :data:`~lenet_xp.web.server.TIMEOUT` seconds to arrive
        whole from now (a request line, headers or body still missing then: the connection
        is closed, or the answer is 408)."""
        self.deadline = time.monotonic() + self.time_limit
        super().handle_one_request()

    def send_response(self, code, message=None) -> None:
        self.connection.settimeout(self.time_limit)  # the reads left it at what the deadline left
        super().send_response(code, message)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _answer(self, method: str) -> None:
        try:
            self._answer_or_refuse(method)
        except ConnectionError:
            self.close_connection = True  # the client went away: nobody to tell

    def _answer_or_refuse(self, method: str) -> None:
        app = self.app
        try:
            if not app.hosts.allows(self.headers.get("Host")):
                raise ApiError(403, f"this server does not answer for host "
                                    f"{self.headers.get('Host')!r}: open {app.url}")
            path, _, query = self.path.partition("?")
            if method == "GET" and path in app.files:
                content, kind = app.files[path]
                self._send(200, content, kind, cache="no-cache")
                return
            if not path.startswith("/api/"):
                raise ApiError(404, f"no page at {path}")
            call, takes_body = app.api.endpoint(method, path)
            if not takes_body:
                self._send_json(200, call(query, b""))
                return
            body = self._read_body()
            with app.work.slot():  # an upload is decoded and classified in its turn
                answer = call(query, body)
            self._send_json(200, answer)
        except ApiError as exc:
            self.log_message('"%s" %d: %s', self.requestline, exc.status, exc.message)
            self._send_json(exc.status, {"error": exc.message})
        except Busy as exc:
            self.log_message('"%s" 503: %s', self.requestline, exc)
            self._send_json(503, {"error": str(exc)}, {"Retry-After": str(RETRY_AFTER)})
        except ConnectionError:
            raise
        except Exception as exc:  # noqa: BLE001 (a bug: say so, log it, keep serving)
            traceback.print_exc(file=sys.stderr)
            self._send_json(500, {"error": f"internal error ({type(exc).__name__}: {exc})"})

    def _read_body(self) -> bytes:
        """The request body, read only when it is announced and at most MAX_BODY bytes."""
        if not self.app.hosts.allows_origin(self.headers.get("Origin")):
            raise ApiError(403, f"requests from the page at {self.headers.get('Origin')} are "
                                "refused: use this server's own pages")
        if "Transfer-Encoding" in self.headers or "Content-Length" not in self.headers:
            raise ApiError(411, "send the body with a Content-Length header")
        length = self.headers["Content-Length"]
        if not length.isdigit():
            raise ApiError(400, f"Content-Length {length!r} is not a byte count")
        if int(length) > MAX_BODY:
            self.close_connection = True  # the unread body must not be taken for a request
            raise ApiError(413, f"the body is {int(length):,} bytes, more than the "
                                f"{MAX_BODY:,} this server reads: send a smaller image")
        try:
            body = self.rfile.read(int(length))
        except TimeoutError:
            self.close_connection = True  # the rest of the body may still come
            raise ApiError(408, f"the request did not arrive whole within "
                                f"{self.app.timeout:g} s (its body is announced as "
                                f"{int(length):,} bytes): send the whole request at once") from None
        if len(body) < int(length):
            raise ApiError(400, "the body is shorter than its Content-Length")
        return body

    def _send_json(self, status: int, answer: dict, headers: dict | None = None) -> None:
        content = json.dumps(answer, separators=(",", ":")).encode()
        self._send(status, content, "application/json", cache="no-store", headers=headers)

    def _send(self, status: int, content: bytes, kind: str, cache: str,
              headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(content)))
        self.send_header("Cache-Control", cache)
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.end_headers()
        self.wfile.write(content)

    def log_request(self, code="-", size="-") -> None:
        """No line per request (the pages poll): refusals are logged with their reason,
        failures with their traceback."""
