"""A lenet_xp web server in a thread for tests, and a client of the standard library."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading

from lenet_xp.web import TestSet, WebServer, open_catalogue


@contextlib.contextmanager
def running(paths, data_dir=None, **options):
    """A WebServer on 127.0.0.1 and a free port, serving in a thread until the block ends."""
    server = WebServer(open_catalogue(paths), TestSet(data_dir, verify=False), port=0, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def call(server, method: str, path: str, body: bytes | None = None, headers=None):
    """(status, headers, answer): answer decoded from JSON when it is JSON, else bytes."""
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        content = response.read()
        kind = response.getheader("Content-Type", "")
        answer = json.loads(content) if kind == "application/json" else content
        return response.status, dict(response.getheaders()), answer
    finally:
        connection.close()


def raw(server, request: bytes, wait: float = 10.0) -> bytes:
    """Send raw bytes, return whatever comes back until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=wait) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def untrained_zoo(folder) -> dict:
    """A model file of every zoo model with its initial weights (seed 1), as train.py's
    model.npz files are written: ``{name: path}``. The web app shows any of them."""
    from pathlib import Path

    from lenet_xp.backend import Random
    from lenet_xp.models import MODELS, get_model
    from lenet_xp.runs.checkpoint import save_checkpoint

    files = {}
    for name in MODELS:
        spec = get_model(name)
        stats = {"mean": 33.3, "std": 78.6} if spec.normalisation == "standard" else None
        data = {"normalisation": spec.normalisation, "input_size": spec.input_size,
                "pixel_stats": stats}
        files[name] = save_checkpoint(Path(folder) / f"{name}.npz", spec.build(Random(1), "float32"),
                                      {"model": name, "data": data, "recipe": {}, "epoch": 0})
    return files
