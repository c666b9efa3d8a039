"""What the server refuses before it does any work: requests addressed to a host name it
does not answer to (DNS rebinding), bodies too large to read, images too large or of a
format that ``scripts/predict.py`` does not take, and uploads beyond the work it does at a
time (:class:`WorkLimit`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import io
import ipaddress
import socket
import threading

from PIL import Image

from ..data.images import IMAGE_SUFFIXES, MAX_STREAM_BYTES, ImageError, open_image

#: the largest request body read (bytes), as of an image on standard input: a phone photo
#: must be made smaller first
MAX_BODY = MAX_STREAM_BYTES
#: the most pixels an upload may have by default (``scripts/serve.py --max-pixels`` changes
#: it); checked from its header, before it is decoded. Lower than scripts/predict.py's
#: :data:`lenet_xp.data.images.MAX_PIXELS`, since anyone who reaches the server may send one:
#: a 2048x2048 image decodes to 16 MiB of RGBA.
MAX_PIXELS = 2048 * 2048
#: hosts that reach every interface: binding one exposes the server to the network
ALL_INTERFACES = ("0.0.0.0", "::", "")
#: uploads decoded and classified at a time, at most (fewer on fewer cores): a 2048x2048
#: upload takes about 100 MB while it is framed (docs/hostile_inputs.md), so 40 at once took
#: the server to 2.4 GB; four take it to about 450 MB
MAX_RUNNING = 4
#: uploads that wait their turn, at most, beyond those running (each holds its body, at
#: most :data:`MAX_BODY`); one more gets 503 with ``Retry-After``
MAX_WAITING = 16
#: the seconds a refused upload is told to wait (``Retry-After``)
RETRY_AFTER = 1


class Busy(Exception):
    """An upload refused because :data:`MAX_RUNNING` are running and :data:`MAX_WAITING`
    waiting; the message says so."""


class WorkLimit:
    """At most ``running`` uploads are decoded and classified at a time, and at most
    ``waiting`` more wait their turn; one past that raises :class:`Busy` at once, before it
    is decoded."""

    def __init__(self, running: int, waiting: int = MAX_WAITING):
        self.running, self.waiting = running, waiting
        self._slots = threading.Semaphore(running)
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """The uploads running or waiting now."""
        return self._admitted

    @contextlib.contextmanager
    def slot(self):
        """``with limit.slot(): ...`` runs the block in its turn, or raises Busy."""
        with self._lock:
            if self._admitted >= self.running + self.waiting:
                raise Busy(f"the server is busy with {self._admitted} uploads: send it again in "
                           f"{RETRY_AFTER} s")
            self._admitted += 1
        try:
            with self._slots:
                yield
        finally:
            with self._lock:
                self._admitted -= 1


#: glibc's ``mallopt`` parameter of the size from which a block gets pages of its own
M_MMAP_THRESHOLD = -3
#: the size (bytes) from which the server's blocks get pages of their own
MMAP_THRESHOLD = 1 << 20


def map_large_blocks() -> None:
    """Give each block of :data:`MMAP_THRESHOLD` bytes or more pages of its own (glibc's
    ``mallopt``; nothing elsewhere), which go back to the system when it is freed. glibc
    does so from 128 KiB at first, but raises that threshold up to 32 MiB as such blocks are
    freed, and from then on keeps numpy's arrays of a few MB on its heaps, one heap per
    thread: after 40 uploads of 2048x2048 pixels the server held 1.07 GB."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return  # not glibc (musl, macOS, Windows): their allocators decide
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def upload_formats() -> tuple[str, ...]:
    """Pillow's names of the formats of :data:`IMAGE_SUFFIXES` (PNG, JPEG, BMP, ...)."""
    extensions = Image.registered_extensions()
    return tuple(sorted({extensions[s] for s in IMAGE_SUFFIXES if s in extensions}))


def check_image(data: bytes, name: str, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse, from its header alone, an upload that is empty, not in one of
    :func:`upload_formats`, or larger than ``max_pixels`` (the guard of
    :func:`lenet_xp.data.images.open_image`); raises :class:`ImageError`."""
    if not data:
        raise ImageError(f"{name}: empty body: send the bytes of one image file")
    open_image(io.BytesIO(data), name, max_pixels, formats=upload_formats()).close()


class HostCheck:
    """The ``Host`` headers a server bound to ``host``:``port`` answers: localhost and the
    loopback addresses, the bound host itself and, when bound to every interface, any IP
    address and this machine's own names. A page on another site whose name resolves to this
    machine (DNS rebinding) sends its own name, and is refused."""

    def __init__(self, host: str, port: int):
        self.port = port
        self.names = {"localhost", "127.0.0.1", "::1", host.lower()}
        self.any_address = host in ALL_INTERFACES
        if self.any_address:
            self.names |= {socket.gethostname().lower(), socket.getfqdn().lower()}

    def allows(self, header: str | None) -> bool:
        """Whether a request with this ``Host`` header (None: absent) is answered."""
        if not header:
            return False
        name, port = _split_host(header.strip().lower())
        if port is not None and port != self.port:
            return False
        return name in self.names or (self.any_address and _is_ip(name))

    def allows_origin(self, origin: str | None) -> bool:
        """Whether a request with this ``Origin`` header comes from a page of this server
        (or from no page: no header)."""
        if origin is None:
            return True
        scheme, _, rest = origin.partition("://")
        return scheme == "http" and self.allows(rest)


def _split_host(value: str) -> tuple[str, int | None]:
    """'name:8000' -> ('name', 8000); '[::1]:8000' -> ('::1', 8000); a bad port -> -1."""
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif value.count(":") == 1:
        name, _, port = value.partition(":")
    else:
        name, port = value, None
    if port is None:
        return name, None
    return name, int(port) if port.isdigit() else -1


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
