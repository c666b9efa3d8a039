"""The web app's load test (lenet_xp.tools.bench.web_load, scripts/serve_load.py's figures):
each answer counted as right, wrong, failed or shed (503, the server's load shedding), against
a stand-in server that answers in turn as it is told. scripts/serve_load.py against the real
server: tests/test_web_http.py."""

from __future__ import annotations

import http.server
import io
import itertools
import json
import os
import threading
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from lenet_xp.tools.bench.server_process import ServerDidNotStart, serving
from lenet_xp.tools.bench.web_load import LoadResult, drawn_seven, memory_mib, run_load

#: what the stand-in's answers hold where they are right: one model's top scores
EXPECTED = [[[7, 0.98], [1, 0.01]]]
ANSWERS = {"right": (200, {"predictions": [{"top": EXPECTED[0]}]}),
           "wrong": (200, {"predictions": [{"top": [[1, 0.98], [7, 0.01]]}]}),
           "shed": (503, {"error": "the server is busy with 18 uploads: send it again in 1 s"}),
           "failed": (500, {"error": "internal error"})}


@contextmanager
def stand_in(kinds: list[str]):
    """A server on a free port whose POSTs get the answers of ``kinds`` in turn, round."""
    turns, lock = itertools.cycle(kinds), threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                status, answer = ANSWERS[next(turns)]
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _load(kinds: list[str], requests: int) -> LoadResult:
    with stand_in(kinds) as port:
        return run_load(port, os.getpid(), drawn_seven(), EXPECTED, requests=requests,
                        concurrency=2)


def test_each_kind_of_answer_is_counted_apart():
    result = _load(["right", "wrong", "shed", "failed"], requests=8)
    assert (result.right, result.wrong, result.shed, result.failed) == (2, 2, 2, 2)
    assert len(result.latency) == 8 and np.all(result.latency > 0)
    assert not result.passed
    assert "8 requests, 2 at a time: 2 answered right, 2 wrong, 2 failed, 2 shed" in result.lines()[0]


def test_shed_answers_are_no_failure_but_a_load_needs_a_right_one():
    assert _load(["right", "shed", "shed"], requests=6).passed
    assert not _load(["shed"], requests=3).passed  # nothing measured
    assert not _load(["right", "right", "wrong"], requests=3).passed


def test_the_drawn_seven_is_a_black_seven_on_white_and_memory_is_read_from_proc():
    page = np.asarray(Image.open(io.BytesIO(drawn_seven())))
    assert page.shape == (280, 280) and page[0, 0] == 255 and page[60, 200] == 0
    assert 0 < (page == 0).mean() < 0.2
    memory = memory_mib(os.getpid())
    if memory:  # Linux
        assert 0 < memory["VmRSS"] <= memory["VmHWM"]


def test_a_server_that_cannot_start_is_one_error_naming_what_it_said(tmp_path):
    """serving() starts `python -m lenet_xp serve`; a file it cannot serve ends the server
    before its address (its error goes to stderr), and the measurement stops there."""
    junk = tmp_path / "model.npz"
    junk.write_text("not a model")
    with pytest.raises(ServerDidNotStart, match=r"lenet-xp serve did not start \(no output\)"):
        with serving([str(junk)]):
            pass
