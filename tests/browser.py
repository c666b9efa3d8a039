"""Driving the web app in Debian's Chromium with Selenium, for tests/test_web_browser.py: a
desktop window or an emulated phone (390×844 with touch), waits, drawing with a mouse or a
finger, screenshots, and axe-core (vendored in tests/vendor/axe-core) run inside a page.
Selenium never downloads a browser or a driver here (SE_OFFLINE, the driver's path given)."""

from __future__ import annotations

import os
from pathlib import Path

from lenet_xp.web.latency import draw  # noqa: F401 (the tests draw as the latency script does)

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")
DESKTOP = (1400, 1000)
PHONE = (390, 844)
WAIT = 30  # seconds any one thing may take to appear
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[test]'"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return (f"{path} not found: apt-get install -y --no-install-recommends chromium "
                    "chromium-driver")
    return None


def start_chromium(profile: Path, phone: bool = False):
    """A headless Chromium: a desktop window, or a phone (Chrome's mobile emulation: a
    390×844 screen, touch events, device pixel ratio 3)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                 "--window-size={},{}".format(*DESKTOP)):
        options.add_argument(flag)
    if phone:
        width, height = PHONE
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 3, "touch": True},
            "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
                         "(KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))


def wait(driver, condition, message: str):
    """Wait for ``condition(driver)``; elements the page redraws meanwhile are looked up again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,)
                         ).until(lambda d: condition(d), message)


def find(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def open_page(driver, server, path: str) -> None:
    driver.get(server.url.rstrip("/") + path)
    driver.get_log("browser")  # start each page with an empty log


def errors(driver, allowed: tuple[str, ...] = ()) -> list[str]:
    """The page's console errors since the last look, but those containing an allowed text."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and not any(text in entry["message"] for text in allowed)]


def shoot(driver, folder: Path, name: str, screen: bool = False) -> None:
    """A screenshot: the whole page (the window made as tall as the page), or with
    ``screen`` (a phone's, an open dialog) what the screen shows."""
    if screen:
        driver.save_screenshot(str(folder / name))
        return
    height = driver.execute_script("return document.documentElement.scrollHeight"
                                   " + window.outerHeight - window.innerHeight")
    driver.set_window_size(DESKTOP[0], min(max(height, 700), 4000))
    driver.save_screenshot(str(folder / name))
    driver.set_window_size(*DESKTOP)


def answered(driver) -> None:
    """Wait until the page shows the answer to the newest drawing."""
    wait(driver, lambda d: find(d, '[data-testid="pad"][data-state="idle"]'), "the answer")


def axe_violations(driver) -> list[str]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page as it is now."""
    driver.execute_script(AXE.read_text())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a',"
        " 'wcag21aa']}}).then(r => done(r.violations.map(v => [v.id, v.impact,"
        " v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')])),"
        " e => done([['axe failed', 'critical', String(e)]]));")
    return [f"{rule} ({impact}): {where}" for rule, impact, where in result
            if impact in ("serious", "critical")]


def small_targets(driver, least: int = 44) -> list[str]:
    """Visible things a finger can tap (links, buttons, selects, inputs, summaries, tabs,
    maps, confusion cells) less than ``least`` CSS pixels high or wide (the confusion matrix
    too: on a phone it scrolls sideways in its own box rather than shrink its cells)."""
    return driver.execute_script("""
        const least = arguments[0], small = [];
        const targets = 'a, button, select, input, summary, [role=tab], [role=button], canvas.map';
        for (const el of document.querySelectorAll(targets)) {
          const box = el.getBoundingClientRect();
          if (!box.width || !box.height || el.closest('[hidden], dialog:not([open])')) continue;
          if (box.height < least || box.width < least) {
            small.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} ` +
                       `'${(el.textContent || el.getAttribute('aria-label') || '').slice(0, 30)}' ` +
                       `${Math.round(box.width)}x${Math.round(box.height)}`);
          }
        }
        return small;""", least)
