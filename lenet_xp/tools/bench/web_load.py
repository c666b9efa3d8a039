"""The web app under load: many POST /api/predict requests, several at a time, from a loopback
client to a running server; every answer checked, latency and memory measured.
``scripts/serve_load.py`` starts the server (:mod:`~lenet_xp.tools.bench.server_process`) and
prints the figures.

An answer is one of four kinds: right (200, every model's scores as expected), wrong (200,
other scores), shed (503: the server's load shedding, which answers the uploads beyond the
work it takes on at a time with ``Retry-After``, see :mod:`lenet_xp.web.security`) and failed
(any other status)."""

from __future__ import annotations

import dataclasses
import http.client
import io
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from ...data.images import ImageError
from ...inference import TrainedModel
from .machine import cpu_model

SHED = 503
"""The status of an upload the server is too busy to take on now (issue 33's load shedding)."""


@dataclasses.dataclass(frozen=True)
class LoadResult:
    """``requests`` sent, ``concurrency`` at a time: how many came back ``right`` (every
    model's scores as expected), ``shed`` (503, the server busy) and ``failed`` (any other
    status than 200 and 503; the rest were wrong), the ``latency`` of each (ms), the
    ``seconds`` of the whole, and the server's memory ``before`` and ``after`` (MiB)."""

    requests: int
    concurrency: int
    right: int
    shed: int
    failed: int
    latency: np.ndarray
    seconds: float
    before: dict
    after: dict

    @property
    def wrong(self) -> int:
        """Answers of 200 whose scores were not the expected ones."""
        return self.requests - self.right - self.shed - self.failed

    @property
    def passed(self) -> bool:
        """Some answer was right, and none wrong or failed (shed answers are the server's
        documented way to stay within its memory)."""
        return self.right > 0 and self.wrong == self.failed == 0

    def lines(self) -> list[str]:
        """The figures, as a person reads them."""
        latency = self.latency
        lines = [(f"{self.requests} requests, {self.concurrency} at a time: {self.right} "
                  f"answered right, {self.wrong} wrong, {self.failed} failed, {self.shed} shed "
                  "(503: the server busy)"),
                 (f"latency p50 {np.percentile(latency, 50):.1f} ms, p95 "
                  f"{np.percentile(latency, 95):.1f} ms, max {latency.max():.1f} ms; "
                  f"{self.requests / self.seconds:.1f} requests/s")]
        if self.before and self.after:
            lines.append(f"server memory (VmRSS): {self.before['VmRSS']:.1f} MiB before, "
                         f"{self.after['VmRSS']:.1f} MiB after, peak {self.after['VmHWM']:.1f} MiB")
        lines.append(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; client and server share them")
        return lines


def drawn_seven() -> bytes:
    """A black 7 on a white 280x280 PNG, as the Draw page's pad sends it."""
    page = np.full((280, 280), 255, np.uint8)
    page[52:70, 70:211] = 0
    for k in range(181):
        x = int(210 - k * 0.5)
        page[60 + k, x - 9:x + 9] = 0
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, format="PNG")
    return buffer.getvalue()


def top_scores(model: TrainedModel, image: bytes) -> list[list]:
    """A model's top 10 ``[class, score]`` for the image, as the server's answer lists them.
    Raises ImageError for an image that is no digit (the message says why)."""
    prediction = model.predict_files([("the image", image)], top=10)[0]
    if prediction.top is None:
        raise ImageError(f"{prediction.error}: the load test needs an image of a digit")
    return [[c, s] for c, s in prediction.top]


def run_load(port: int, pid: int, image: bytes, expected: list, requests: int = 200,
             concurrency: int = 8) -> LoadResult:
    """Send ``requests`` predictions of ``image``, ``concurrency`` at a time, to the server
    on 127.0.0.1:``port`` (process ``pid``), and compare each with ``expected`` (each served
    model's :func:`top_scores`, in the server's order)."""
    before = memory_mib(pid)
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda _: _post(port, image), range(requests)))
    seconds = time.perf_counter() - start
    statuses = [status for _, status, _ in results]
    right = sum(status == 200 and [p.get("top") for p in answer["predictions"]] == expected
                for _, status, answer in results)
    return LoadResult(requests, concurrency, right, shed=statuses.count(SHED),
                      failed=sum(status not in (200, SHED) for status in statuses),
                      latency=np.array([s for s, _, _ in results]) * 1000, seconds=seconds,
                      before=before, after=memory_mib(pid))


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MiB, from /proc (empty elsewhere than Linux)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM") if key in fields}


def _post(port: int, image: bytes) -> tuple[float, int, dict]:
    """(seconds, status, answer) of one POST /api/predict, as the Draw page sends it."""
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("POST", "/api/predict?top=10", body=image)
        response = connection.getresponse()
        answer = json.loads(response.read())
        return time.perf_counter() - start, response.status, answer
    finally:
        connection.close()
