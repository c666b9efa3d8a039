"""The web app in a real browser: Debian's Chromium driven by Selenium (never a downloaded
browser or driver: SE_OFFLINE, and the driver's path given). Models trained for seconds on a
slice of the real MNIST files read the digits these tests draw with a mouse and with a
finger; a file is uploaded; a run still training grows an epoch on the Runs page; a
confusion cell is clicked. Each page is saved as a screenshot (into $LENET_XP_SCREENSHOTS,
else a temporary folder), and no page may log an error (a Content-Security-Policy
violation would). Skipped with the reason where Chromium, its driver or Selenium is
missing, except under CI=true, where that fails."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lenet_xp
from conftest import SHARED_MNIST
from lenet_xp.data import load_mnist
from lenet_xp.training.experiment import RunConfig, run
from web_server import running

pytestmark = pytest.mark.browser

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1000")
WAIT = 30  # seconds any one thing may take to appear

# Strokes on the 280x280 pad, in pad pixels.
SEVEN = [(70, 60), (210, 60), *((210 - 6 * k, 60 + 12 * k) for k in range(1, 16))]
ONE = [(150, 40), (145, 130), (140, 240)]


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[test]'"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return (f"{path} not found: apt-get install -y --no-install-recommends chromium "
                    "chromium-driver")
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs the browser tests, but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """lenet5 and the paper's LeNet-5 trained for seconds on slices of the real MNIST, and
    'live': a run folder one epoch into training (the first epoch of a lenet_theano run)."""
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST files not found in {SHARED_MNIST}")
    root = tmp_path_factory.mktemp("runs")
    for model, limit, epochs in (("lenet5", 10000, 3), ("lenet5_paper", 5000, 2),
                                 ("lenet_theano", 5000, 3)):
        run(RunConfig(model=model, data_dir=str(SHARED_MNIST), download=False, val_size=1000,
                      out=str(root / model), progress=False, plot=False, train_limit=limit,
                      threads=1, recipe={"epochs": epochs}), log=lambda line: None)
    live = root / "live"
    live.mkdir()
    first = (root / "lenet_theano" / "metrics.jsonl").read_text().splitlines(keepends=True)[0]
    (live / "metrics.jsonl").write_text(first)
    shutil.copy(root / "lenet_theano" / "model.npz", live / "checkpoint.npz")
    return root


@pytest.fixture(scope="module")
def site(runs):
    with running([runs / "lenet5", runs / "lenet5_paper", runs / "live"],
                 data_dir=SHARED_MNIST) as server:
        yield server


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("LENET_XP_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return tmp_path_factory.mktemp("screenshots")


def _wait(driver, condition, message: str):
    """Wait for ``condition(driver)``; elements the page redraws meanwhile are looked up again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,)
                         ).until(lambda d: condition(d), message)


def _find(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _open(driver, site, path: str) -> None:
    driver.get(site.url.rstrip("/") + path)
    driver.get_log("browser")  # start each page with an empty log


def _no_errors(driver) -> None:
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors


def _shoot(driver, folder: Path, name: str) -> None:
    """A screenshot of the whole page (the window made as tall as the page)."""
    height = driver.execute_script("return document.documentElement.scrollHeight"
                                   " + window.outerHeight - window.innerHeight")
    driver.set_window_size(1400, min(max(height, 700), 2400))
    driver.save_screenshot(str(folder / name))
    driver.set_window_size(1400, 1000)


def _draw(driver, strokes, touch: bool = False) -> None:
    """Draw strokes on the pad with a mouse, or with a finger (touch pointer actions)."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    pad = _find(driver, '[data-testid="pad"]')[0]
    box = pad.rect
    scale = box["width"] / 280
    kind = interaction.POINTER_TOUCH if touch else interaction.POINTER_MOUSE
    actions = ActionBuilder(driver, mouse=PointerInput(kind, "finger" if touch else "mouse"),
                            duration=20)
    for points in strokes:
        x, y = points[0]
        actions.pointer_action.move_to_location(round(box["x"] + x * scale), round(box["y"] + y * scale))
        actions.pointer_action.pointer_down()
        for x, y in points[1:]:
            actions.pointer_action.move_to_location(round(box["x"] + x * scale),
                                                    round(box["y"] + y * scale))
        actions.pointer_action.pointer_up()
    actions.perform()


def _top_digit(driver) -> str:
    """The first model's top digit, once the page shows the answer to the newest drawing."""
    _wait(driver, lambda d: _find(d, '[data-testid="pad"][data-state="idle"]'), "the answer")
    return _find(driver, '[data-testid="top-digit"]')[0].text


def _record_pointer_types(driver) -> None:
    driver.execute_script("window.pointerTypes = [];"
                          "document.querySelector('[data-testid=pad]').addEventListener("
                          "'pointerdown', e => window.pointerTypes.push(e.pointerType));")


def test_draw_with_a_mouse(browser, site, screenshots):
    _open(browser, site, "/")
    _wait(browser, lambda d: _find(d, '[data-testid="top-digit"]'), "the model cards")
    _record_pointer_types(browser)
    _draw(browser, [SEVEN])
    assert _top_digit(browser) == "7"
    assert browser.execute_script("return window.pointerTypes") == ["mouse"]
    cards = _find(browser, ".model-card .top-digit")
    assert [card.get_attribute("data-model") for card in cards] == ["lenet5", "lenet5_paper", "live"]
    assert [card.text for card in cards[:2]] == ["7", "7"] and cards[2].text.isdigit(), \
        "every model's scores, side by side"
    stages = [s.text.split()[0] for s in _find(browser, ".stage-head")]
    assert stages == ["C1", "S2", "C3", "S4", "C5", "F6", "OUT"]
    assert len(_find(browser, "canvas.map")) == 6 + 6 + 16 + 16
    _shoot(browser, screenshots, "draw.png")

    _find(browser, "canvas.map")[3].click()
    _wait(browser, lambda d: _find(d, "dialog#zoom[open]"), "the enlarged map")
    assert "C1, map 4 of 6" in _find(browser, "#zoom-caption")[0].text
    _shoot(browser, screenshots, "draw_zoom.png")
    _find(browser, "#zoom-close")[0].click()

    from selenium.webdriver.support.ui import Select
    Select(_find(browser, "#layers-model")[0]).select_by_value("lenet5_paper")
    _wait(browser, lambda d: any("RBF penalties" in s.text for s in _find(d, ".stage-head")),
          "the paper model's RBF output")
    assert [s.text.split()[0] for s in _find(browser, ".stage-head")][-1] == "RBF"
    _shoot(browser, screenshots, "draw_paper.png")
    _no_errors(browser)


def test_draw_with_a_finger(browser, site):
    _open(browser, site, "/")
    pad = _find(browser, '[data-testid="pad"]')[0]
    assert pad.value_of_css_property("touch-action") == "none"
    _wait(browser, lambda d: _find(d, '[data-testid="top-digit"]'), "the model cards")
    _record_pointer_types(browser)
    _draw(browser, [ONE], touch=True)
    assert _top_digit(browser) == "1"
    assert browser.execute_script("return window.pointerTypes") == ["touch"]
    _find(browser, "#clear")[0].click()
    assert _find(browser, '[data-testid="top-digit"]')[0].text == "–"
    _no_errors(browser)


def test_upload_a_file(browser, site, runs, tmp_path):
    test = load_mnist(SHARED_MNIST, verify=False, download=False)
    model = lenet_xp.load_model(runs / "lenet5" / "model.npz")
    labels = model.predict(test.test_images[:20]).labels
    index = int(np.flatnonzero(labels == test.test_labels[:20])[0])
    photo = 255 - np.kron(test.test_images[index], np.ones((8, 8), np.uint8))  # a scan: dark on light
    path = tmp_path / "scan.png"
    Image.fromarray(photo).save(path)
    expected = model.predict_files([path])[0].top[0][0]
    assert expected == test.test_labels[index]
    _open(browser, site, "/")
    _wait(browser, lambda d: _find(d, '[data-testid="top-digit"]'), "the model cards")
    _find(browser, '[data-testid="upload"]')[0].send_keys(str(path))
    _wait(browser, lambda d: _find(d, '[data-testid="top-digit"]')[0].text == str(expected),
          "the uploaded digit's class")
    _no_errors(browser)


def test_runs_page_follows_a_run_still_training(browser, site, runs, screenshots):
    _open(browser, site, "/runs")
    count = '[data-testid="epochs-live"]'
    _wait(browser, lambda d: _find(d, count) and _find(d, count)[0].text == "1", "epoch 1")
    assert _find(browser, '[data-testid="epochs-lenet5"]')[0].text == "3"
    assert len(_find(browser, ".uplot")) == 2
    second = (runs / "lenet_theano" / "metrics.jsonl").read_text().splitlines(keepends=True)[1]
    with (runs / "live" / "metrics.jsonl").open("a") as file:
        file.write(second)
    _wait(browser, lambda d: _find(d, count)[0].text == "2", "the new epoch")
    assert "training" in _find(browser, ".run-card")[2].text
    assert json.loads(second)["epoch"] == 1
    _shoot(browser, screenshots, "runs.png")
    _no_errors(browser)


def test_evaluate_page_shows_a_cells_digits(browser, site, screenshots):
    _open(browser, site, "/evaluate")
    cells = "td.cell.clickable:not(.diagonal)"
    _wait(browser, lambda d: _find(d, cells), "the confusion matrix")
    assert len(_find(browser, "td.cell")) == 100
    biggest = max(_find(browser, cells), key=lambda cell: int(cell.text))
    count = int(biggest.text)
    biggest.click()
    _wait(browser, lambda d: len(_find(d, '[data-testid="cell-digit"]')) == min(count, 100),
          "the cell's digits")
    assert f"{count} test digit" in _find(browser, "#cell-title")[0].text
    _shoot(browser, screenshots, "evaluate.png")
    _no_errors(browser)


def test_evaluate_page_without_a_test_set_says_how(browser, runs):
    with running([runs / "lenet5"]) as server:
        _open(browser, server, "/evaluate")
        _wait(browser, lambda d: "--data-dir" in _find(d, "#eval-status")[0].text, "the notice")
        _no_errors(browser)
