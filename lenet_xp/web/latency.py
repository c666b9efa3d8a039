"""Pen-up to answer on the Draw page, as a person meets it: a headless Chromium (driven by
Selenium, which ``pip install -e ".[test]"`` brings) draws digits on the pad of a running
server, and the page's own clock gives, for each stroke, the time from the pointerup event to
the answer shown (the User Timing marks ``pen-up`` and ``answer-shown`` that draw.js sets).
``scripts/draw_latency.py`` starts the server and prints the figures."""

from __future__ import annotations

import dataclasses
import os
import tempfile

import numpy as np

from ..tools.bench.machine import cpu_model

#: digits drawn in turn, as strokes of points on the 280×280 pad
DIGITS = {
    "7": [[(70, 60), (210, 60), *((210 - 6 * k, 60 + 12 * k) for k in range(1, 16))]],
    "1": [[(150, 40), (145, 130), (140, 240)]],
    "0": [[(140 + round(60 * np.cos(t)), 140 + round(90 * np.sin(t)))
           for t in np.linspace(0, 2 * np.pi, 24)]],
    "4": [[(90, 40), (70, 160), (200, 160)], [(170, 60), (170, 240)]],
}


@dataclasses.dataclass(frozen=True)
class LatencyResult:
    """``latency`` (ms) from pen-up to the answer shown, one per stroke, and the digits the
    first model read."""

    latency: np.ndarray
    read: list[str]

    def lines(self) -> list[str]:
        latency = self.latency
        return [(f"{len(latency)} strokes: pen-up to answer median {np.median(latency):.0f} ms, "
                 f"min {latency.min():.0f} ms, max {latency.max():.0f} ms (the page's own clock)"),
                f"read as: {' '.join(self.read)}",
                f"machine: {cpu_model()}, {os.cpu_count()} CPUs; browser, server and page share them"]


def measure(url: str, strokes: int = 10, chromium: str = "/usr/bin/chromium",
            chromedriver: str = "/usr/bin/chromedriver") -> LatencyResult:
    """Draw ``strokes`` digits on the Draw page at ``url``, one at a time (the pad cleared
    before each), and time each from pen-up to answer."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # never download a browser or a driver
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    with tempfile.TemporaryDirectory() as profile:
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
                     f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(chromedriver))
        try:
            driver.get(url)
            _wait(driver, "return document.querySelector('[data-testid=top-digit]') !== null")
            latency, read = [], []
            for index in range(strokes):
                driver.execute_script("document.getElementById('clear').click();"
                                      "performance.clearMarks();")
                draw(driver, list(DIGITS.values())[index % len(DIGITS)])
                _wait(driver, "return performance.getEntriesByName('answer-shown').length > 0 && "
                              "document.getElementById('pad').dataset.state === 'idle'")
                latency.append(driver.execute_script(
                    "const up = performance.getEntriesByName('pen-up').at(-1).startTime;"
                    "const shown = performance.getEntriesByName('answer-shown')"
                    ".find(m => m.startTime >= up);"
                    "return shown.startTime - up;"))
                read.append(driver.execute_script(
                    "return document.querySelector('[data-testid=top-digit]').textContent"))
        finally:
            driver.quit()
    return LatencyResult(np.array(latency), read)


def draw(driver, strokes, touch: bool = False) -> None:
    """Draw ``strokes`` (lists of (x, y) points in pad pixels, 0..280) on the page's pad with
    a mouse, or with a finger (touch pointer actions), as a person would."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    left, top, width = driver.execute_script(
        "const b = document.querySelector('[data-testid=pad]').getBoundingClientRect();"
        "return [b.left, b.top, b.width];")
    scale = width / 280
    kind = interaction.POINTER_TOUCH if touch else interaction.POINTER_MOUSE
    actions = ActionBuilder(driver, mouse=PointerInput(kind, "finger" if touch else "mouse"),
                            duration=20)
    for points in strokes:
        x, y = points[0]
        actions.pointer_action.move_to_location(round(left + x * scale), round(top + y * scale))
        actions.pointer_action.pointer_down()
        for x, y in points[1:]:
            actions.pointer_action.move_to_location(round(left + x * scale), round(top + y * scale))
        actions.pointer_action.pointer_up()
    actions.perform()


def _wait(driver, script: str, seconds: float = 60) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, seconds).until(lambda d: d.execute_script(script), script)
