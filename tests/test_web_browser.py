"""The web app in a real browser: Debian's Chromium driven by Selenium (tests/browser.py), on a
desktop window and on an emulated phone (390×844, touch). Models trained for seconds on a
slice of the real MNIST files read digits drawn with a mouse and with a finger; a file is
uploaded; runs train on (one resumed for more epochs, one not started yet); confusion cells
are opened and their digits sent to the Draw page; every zoo model's layers are explained
and every unit the tests open is computed by the page as the network computed it; each bug
of issue 31 has its test; axe-core finds no serious or critical WCAG 2.1 A/AA violation on
any page. Each page is saved as a screenshot (into $LENET_XP_SCREENSHOTS, else a temporary
folder), and no page may log an error (a Content-Security-Policy violation would). Skipped
with the reason where Chromium, its driver or Selenium is missing, except under CI=true,
where that fails."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lenet_xp
from browser import (PHONE, answered, axe_violations, draw, errors, find, missing, open_page,
                     shoot, small_targets, start_chromium, wait)
from conftest import SHARED_MNIST
from lenet_xp.data import load_mnist
from lenet_xp.models import MODELS
from lenet_xp.training import IO, Placement, RunConfig, run
from lenet_xp.training.resume import resume_run
from web_server import running, untrained_zoo

pytestmark = pytest.mark.browser

# Strokes on the 280x280 pad, in pad pixels.
SEVEN = [(70, 60), (210, 60), *((210 - 6 * k, 60 + 12 * k) for k in range(1, 16))]
ONE = [(150, 40), (145, 130), (140, 240)]
TAP = [(140, 140)]


def _chromium(tmp_path_factory, phone: bool):
    reason = missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs the browser tests, but {reason}")
        pytest.skip(reason)
    return start_chromium(tmp_path_factory.mktemp("chromium"), phone=phone)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = _chromium(tmp_path_factory, phone=False)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    driver = _chromium(tmp_path_factory, phone=True)
    yield driver
    driver.quit()


def _train(root: Path, model: str, limit: int, epochs: int) -> None:
    run(RunConfig(model=model, val_size=1000, train_limit=limit, recipe={"epochs": epochs},
                  placement=Placement(threads=1),
                  io=IO(data_dir=str(SHARED_MNIST), download=False, out=str(root / model),
                        progress=False, plot=False)), log=lambda line: None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """lenet5 and the paper's LeNet-5 trained for seconds on slices of the real MNIST;
    'live': a run folder one epoch into training (the first epoch of a lenet_theano run);
    'resumed': the finished lenet5 run resumed for a fourth epoch, caught after it (its old
    model.npz, the newer checkpoint.npz, metrics.jsonl rewritten without the test)."""
    if not (SHARED_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST files not found in {SHARED_MNIST}")
    root = tmp_path_factory.mktemp("runs")
    for model, limit, epochs in (("lenet5", 10000, 3), ("lenet5_paper", 5000, 2),
                                 ("lenet_theano", 5000, 3)):
        _train(root, model, limit, epochs)
    live = root / "live"
    live.mkdir()
    first = (root / "lenet_theano" / "metrics.jsonl").read_text().splitlines(keepends=True)[0]
    (live / "metrics.jsonl").write_text(first)
    shutil.copy(root / "lenet_theano" / "model.npz", live / "checkpoint.npz")
    ahead = root / "ahead"
    shutil.copytree(root / "lenet5", ahead)
    resume_run(ahead, recipe_changes={"epochs": 4}, log=lambda line: None)
    resumed = root / "resumed"
    shutil.copytree(root / "lenet5", resumed)
    shutil.copy(ahead / "checkpoint.npz", resumed / "checkpoint.npz")
    later = (resumed / "model.npz").stat().st_mtime + 5
    os.utime(resumed / "checkpoint.npz", (later, later))
    epochs = [line for line in (ahead / "metrics.jsonl").read_text().splitlines(keepends=True)
              if '"event": "epoch"' in line]
    (resumed / "metrics.jsonl").write_text("".join(epochs))
    return root


@pytest.fixture(scope="module")
def site(runs):
    with running([runs / "lenet5", runs / "lenet5_paper", runs / "live", runs / "resumed"],
                 data_dir=SHARED_MNIST) as server:
        yield server


@pytest.fixture(scope="module")
def zoo_site(tmp_path_factory):
    """Every zoo model, with its initial weights."""
    files = untrained_zoo(tmp_path_factory.mktemp("zoo"))
    with running(list(files.values())) as server:
        yield server


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("LENET_XP_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return tmp_path_factory.mktemp("screenshots")


def _no_errors(driver, allowed=()) -> None:
    assert errors(driver, allowed) == []


def _top_digit(driver) -> str:
    """The first model's top digit, once the page shows the answer to the newest drawing."""
    answered(driver)
    return find(driver, '[data-testid="top-digit"]')[0].text


def _cards_ready(driver) -> None:
    wait(driver, lambda d: find(d, '[data-testid="top-digit"]'), "the model cards")


def _record_pointer_types(driver) -> None:
    driver.execute_script("window.pointerTypes = [];"
                          "document.querySelector('[data-testid=pad]').addEventListener("
                          "'pointerdown', e => window.pointerTypes.push(e.pointerType));")


def _stage_names(driver) -> list[str]:
    return [stage.get_attribute("data-stage") for stage in find(driver, "section.stage")]


def _choose_model(driver, name: str) -> None:
    driver.execute_script("const s = document.getElementById('layers-model'); s.value = arguments[0];"
                          "s.dispatchEvent(new Event('change'));", name)
    wait(driver, lambda d: find(d, "section.stage") and driver.execute_script(
        "return document.querySelector('[data-stage=input]') !== null && "
        "document.getElementById('pad').dataset.state === 'idle'"), f"{name}'s layers")


# ---- Draw ------------------------------------------------------------------------------

def test_draw_with_a_mouse(browser, site, screenshots):
    open_page(browser, site, "/")
    _cards_ready(browser)
    _record_pointer_types(browser)
    draw(browser, [SEVEN])
    assert _top_digit(browser) == "7"
    assert browser.execute_script("return window.pointerTypes") == ["mouse"]
    cards = find(browser, ".model-card .top-digit")
    assert [card.get_attribute("data-model") for card in cards] == [
        "lenet5", "lenet5_paper", "live", "resumed"]
    assert [card.text for card in cards[:2]] == ["7", "7"] and cards[2].text.isdigit(), \
        "every model's scores, side by side"
    assert find(browser, '[data-testid="answer"]')[0].text == "lenet5 reads 7 · " + \
        find(browser, ".model-card .top-score")[0].text
    assert _stage_names(browser) == ["input", "C1", "S2", "A2", "C3", "S4", "A4", "C5", "A5",
                                     "F6", "A6", "OUT", "scores"]
    assert len(find(browser, "canvas.map")) == 1 + 6 + 6 + 6 + 16 + 16 + 16
    c1 = find(browser, '[data-stage="C1"] .sentence')[0].text
    assert c1 == "6 kernels of 5×5 slide over the 32×32 input: 6 maps of 28×28: y = b + Σ w·x"
    assert find(browser, '[data-testid="kernels"] canvas.kernels'), "C1's kernels"
    assert len(find(browser, '[data-stage="C3"] canvas.kernels')) == 1
    bars = find(browser, "section.stage:not(.stage-classes) .stage-head .colour-bar")
    assert len(bars) == 11 and all(" 0 " in f" {bar.text.replace(chr(10), ' ')} " for bar in bars), \
        "a colour bar with 0 marked for each stage of maps or values"
    shoot(browser, screenshots, "draw.png")

    find(browser, '[data-stage="C1"] canvas.map')[3].click()
    wait(browser, lambda d: find(d, "dialog#zoom[open]"), "the inspector")
    assert "C1, map 4 of 6" in find(browser, "#zoom-title")[0].text
    _unit_agrees(browser)
    find(browser, "#zoom-close")[0].click()
    browser.execute_script("layers.open(4, 1, 4, 4)")  # C3, map 2: a unit reading six maps
    wait(browser, lambda d: find(d, "dialog#zoom[open]"), "the inspector")
    assert len(find(browser, "#unit .read-map")) == 6
    _unit_agrees(browser)
    shoot(browser, screenshots, "draw_inspect.png", screen=True)
    find(browser, "#zoom-close")[0].click()

    _choose_model(browser, "lenet5_paper")
    assert _stage_names(browser)[-2:] == ["RBF", "scores"]
    assert "none" in find(browser, '[data-stage="scores"]')[0].text
    find(browser, '[data-stage="RBF"] button.bar-row')[7].click()
    wait(browser, lambda d: find(d, "dialog#zoom[open]"), "the RBF unit")
    assert "prototype of 7" in find(browser, "#unit")[0].text
    _unit_agrees(browser)
    find(browser, "#zoom-close")[0].click()
    shoot(browser, screenshots, "draw_paper.png")
    _no_errors(browser)


def _unit_agrees(driver) -> None:
    """The unit the inspector shows: what the page computed from the stage below and the
    layer's parameters is what the network gave."""
    unit = find(driver, '[data-testid="unit"]')[0]
    computed, shown = float(unit.get_attribute("data-computed")), float(unit.get_attribute("data-shown"))
    assert computed == pytest.approx(shown, rel=1e-4, abs=1e-5), unit.text


def test_draw_with_a_finger(browser, site):
    open_page(browser, site, "/")
    pad = find(browser, '[data-testid="pad"]')[0]
    assert pad.value_of_css_property("touch-action") == "none"
    _cards_ready(browser)
    _record_pointer_types(browser)
    draw(browser, [ONE], touch=True)
    assert _top_digit(browser) == "1"
    assert browser.execute_script("return window.pointerTypes") == ["touch"]
    find(browser, "#clear")[0].click()
    assert find(browser, '[data-testid="top-digit"]')[0].text == "–"
    _no_errors(browser)


def _scan(runs, tmp_path) -> tuple[Path, int]:
    """A test digit lenet5 reads right, as a scan (dark on light, 224×224), and its class."""
    test = load_mnist(SHARED_MNIST, verify=False, download=False)
    model = lenet_xp.load_model(runs / "lenet5" / "model.npz")
    labels = model.predict(test.test_images[:20]).labels
    index = int(np.flatnonzero(labels == test.test_labels[:20])[0])
    photo = 255 - np.kron(test.test_images[index], np.ones((8, 8), np.uint8))
    path = tmp_path / "scan.png"
    Image.fromarray(photo).save(path)
    expected = model.predict_files([path])[0].top[0][0]
    assert expected == test.test_labels[index]
    return path, expected


def test_upload_a_file(browser, site, runs, tmp_path):
    path, expected = _scan(runs, tmp_path)
    open_page(browser, site, "/")
    _cards_ready(browser)
    find(browser, '[data-testid="upload"]')[0].send_keys(str(path))
    wait(browser, lambda d: find(d, '[data-testid="top-digit"]')[0].text == str(expected),
         "the uploaded digit's class")
    _no_errors(browser)


def test_a_refused_upload_leaves_no_earlier_answer(browser, site, runs, tmp_path):
    """Issue 31, bug 1."""
    path, expected = _scan(runs, tmp_path)
    open_page(browser, site, "/")
    _cards_ready(browser)
    find(browser, '[data-testid="upload"]')[0].send_keys(str(path))
    wait(browser, lambda d: find(d, '[data-testid="top-digit"]')[0].text == str(expected), "an answer")
    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(blank)
    find(browser, '[data-testid="upload"]')[0].send_keys(str(blank))
    wait(browser, lambda d: "no ink" in find(d, "#status")[0].text, "the refusal")
    assert [d.text for d in find(browser, ".model-card .top-digit")] == ["–"] * 4
    assert browser.execute_script(
        "const c = document.getElementById('seen'); return Array.from(c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data).every((v, i) => i % 4 == 3 || v == 0);"), \
        "the 28×28 digit of the earlier answer is gone"
    assert find(browser, "section.stage") == [] and find(browser, '[data-testid="answer"]')[0].text == ""
    _no_errors(browser, allowed=("status of 400",))


def test_the_request_leaves_when_the_pen_lifts(browser, site):
    """Issue 31, bug 3: the pad's image is sent within the pointerup event itself (no
    encoding callback, no timer): the requests counted in listeners that run after the
    page's own, at pointerdown and at pointerup of one tap, differ by one."""
    open_page(browser, site, "/")
    _cards_ready(browser)
    browser.execute_script("""
        window.sent = 0; window.counts = {};
        const original = window.fetch;
        window.fetch = (...args) => { if (String(args[0]).includes('/api/predict')) window.sent++;
                                      return original(...args); };
        const pad = document.querySelector('[data-testid=pad]');
        pad.addEventListener('pointerdown', () => { window.counts.down = window.sent; });
        pad.addEventListener('pointerup', () => { window.counts.up = window.sent; });""")
    draw(browser, [TAP])
    answered(browser)
    counts = browser.execute_script("return window.counts")
    assert counts["up"] == counts["down"] + 1, counts


def test_a_tap_is_no_digit(browser, site, screenshots):
    """Issue 31, bug 6: ink that cannot be one digit gets a visible warning."""
    twelve = [[(60, 60), (60, 220)], [(120, 80), (160, 50), (200, 80), (120, 220), (210, 220)]]
    open_page(browser, site, "/")
    _cards_ready(browser)
    doubt = '[data-testid="doubt"]'
    draw(browser, [TAP])
    answered(browser)
    assert find(browser, doubt)[0].is_displayed()
    assert "This may not be a digit" in find(browser, doubt)[0].text
    find(browser, "#clear")[0].click()
    assert not find(browser, doubt)[0].is_displayed()
    draw(browser, twelve)
    answered(browser)
    assert "two shapes side by side" in find(browser, doubt)[0].text
    shoot(browser, screenshots, "draw_doubt.png")
    find(browser, "#clear")[0].click()
    draw(browser, [SEVEN])
    answered(browser)
    assert not find(browser, doubt)[0].is_displayed()
    _no_errors(browser)


def test_the_papers_posterior_is_explained(browser, site):
    """Issue 31, bug 5: the MAP model's card gives the winning penalty and the share left
    to 'none of these', not a bare posterior."""
    open_page(browser, site, "/")
    _cards_ready(browser)
    draw(browser, [TAP])
    answered(browser)
    card = find(browser, ".model-card")[1]
    assert "penalty" in card.find_element("css selector", ".top-score").text
    note = find(browser, '[data-testid="posterior-lenet5_paper"]')[0].text
    assert "left to 'none of these'" in note and "j = 5" in note
    assert "RBF penalties" in card.text


def test_cards_follow_the_models_as_runs_train(browser, runs, tmp_path):
    """Issue 31, bug 2: a run without weights when the page opened gets its card's scores,
    epochs and accuracy once it has them, without a reload."""
    later = tmp_path / "later"
    with running([later, runs / "lenet5"]) as server:
        open_page(browser, server, "/")
        _cards_ready(browser)
        assert "waiting for the run to start" in find(browser, '[data-testid="state-later"]')[0].text
        draw(browser, [SEVEN])
        answered(browser)
        shutil.copytree(runs / "lenet_theano", later)
        wait(browser, lambda d: "test accuracy" in find(d, '[data-testid="state-later"]')[0].text,
             "the run's weights")
        state = find(browser, '[data-testid="state-later"]')[0].text
        accuracy = lenet_xp.load_model(later / "model.npz").meta["test_accuracy"]
        assert f"3 epochs, test accuracy {100 * accuracy:.2f} %" in state
        wait(browser, lambda d: find(d, ".model-card .top-digit")[0].text == "7", "its scores")
        assert "3 epochs, test accuracy" in find(browser, '[data-testid="state-lenet5"]')[0].text
        _no_errors(browser)


def test_a_resumed_run_is_shown_training_again(browser, site):
    """Issue 31, bug 7: the Draw page serves the resumed run's newer checkpoint and the Runs
    page says it trains, to the epochs its checkpoint plans."""
    open_page(browser, site, "/")
    _cards_ready(browser)
    wait(browser, lambda d: "training: epoch 4 of 4" in find(d, '[data-testid="state-resumed"]')[0].text,
         "the resumed run's epoch")
    open_page(browser, site, "/runs")
    wait(browser, lambda d: find(d, '[data-testid="state-resumed"]'), "the run cards")
    assert find(browser, '[data-testid="state-resumed"]')[0].text == "training: 4 of 4 epochs so far"
    _no_errors(browser)


# ---- Teach: every layer of every zoo model -------------------------------------------------

def test_every_zoo_model_is_explained(browser, zoo_site, screenshots):
    open_page(browser, zoo_site, "/")
    _cards_ready(browser)
    draw(browser, [SEVEN])
    answered(browser)
    for name in sorted(MODELS):
        _choose_model(browser, name)
        stages = find(browser, "section.stage")
        assert len(stages) >= 5, name
        for stage in stages:
            sentence = stage.find_element("css selector", ".sentence").text
            assert ": y" in sentence or ": x =" in sentence or ": p_i" in sentence or \
                ": P_i" in sentence, (name, sentence)
        assert find(browser, '[data-testid="kernels"]'), f"{name}: its first convolution's kernels"
        for index, stage in enumerate(_stage_names(browser)):
            if find(browser, f'[data-stage="{stage}"] canvas.map') and stage != "input":
                browser.execute_script("layers.open(arguments[0], 0, 1, 1)", index)
                _unit_agrees(browser)
                browser.execute_script("document.getElementById('zoom').close()")
        if name == "bn_cnn":
            shoot(browser, screenshots, "draw_bn_cnn.png")
    _no_errors(browser)


def test_units_by_keyboard(browser, site):
    open_page(browser, site, "/")
    _cards_ready(browser)
    draw(browser, [SEVEN])
    answered(browser)
    from selenium.webdriver.common.keys import Keys

    c3 = find(browser, '[data-stage="C3"] canvas.map')[2]
    browser.execute_script("arguments[0].focus()", c3)
    c3.send_keys(Keys.ENTER)
    wait(browser, lambda d: find(d, "dialog#zoom[open]"), "the inspector")
    assert "row 6, column 6" in find(browser, "#unit h3")[0].text, "the middle unit of 10×10"
    canvas = find(browser, "#zoom-canvas")[0]
    assert browser.execute_script("return document.activeElement.id") == "zoom-canvas"
    canvas.send_keys(Keys.ARROW_RIGHT)
    canvas.send_keys(Keys.ARROW_DOWN)
    assert "row 7, column 7" in find(browser, "#unit h3")[0].text
    _unit_agrees(browser)
    assert "receptive field: 14×14 pixels of the input" in find(browser, "#unit")[0].text
    canvas.send_keys(Keys.ESCAPE)
    wait(browser, lambda d: not find(d, "dialog#zoom[open]"), "the inspector closed")
    s2 = find(browser, '[data-stage="S2"] canvas.map')[0]
    browser.execute_script("arguments[0].focus()", s2)
    s2.send_keys(Keys.SPACE)
    wait(browser, lambda d: find(d, "dialog#zoom[open]"), "the inspector, by Space")
    assert "y = max x" in find(browser, "#unit")[0].text
    _no_errors(browser)


# ---- Runs ---------------------------------------------------------------------------------

def test_runs_page_follows_a_run_still_training(browser, site, runs, screenshots):
    open_page(browser, site, "/runs")
    count = '[data-testid="epochs-live"]'
    wait(browser, lambda d: find(d, count) and find(d, count)[0].text == "1", "epoch 1")
    assert find(browser, '[data-testid="epochs-lenet5"]')[0].text == "3"
    titles = [h.text for h in find(browser, "#loss-charts h2")]
    assert [t.split(" (")[0] for t in titles] == ["Training loss: cross-entropy",
                                                  "Training loss: MAP criterion"], \
        "losses of different kinds on charts of their own"
    assert "lenet5_paper" in titles[1] and "lenet5_paper" not in titles[0]
    assert len(find(browser, ".uplot")) == 3
    legend = find(browser, "#legend li")
    assert [li.text for li in legend] == ["lenet5", "lenet5_paper", "live", "resumed",
                                          "training", "validation"]
    assert browser.execute_script(
        "const lines = [...document.querySelectorAll('#legend li svg line')];"
        "return lines.map(l => l.getAttribute('stroke-dasharray'))").count(None) == 5
    second = (runs / "lenet_theano" / "metrics.jsonl").read_text().splitlines(keepends=True)[1]
    with (runs / "live" / "metrics.jsonl").open("a") as file:
        file.write(second)
    wait(browser, lambda d: find(d, count)[0].text == "2", "the new epoch")
    assert "training" in find(browser, ".run-card")[2].text
    assert json.loads(second)["epoch"] == 1
    find(browser, "details.figures summary")[0].click()
    rows = find(browser, "table.figures-table tr")
    assert len(rows) == 1 + 4, "a row per epoch: the charts' table alternative"
    shoot(browser, screenshots, "runs.png")
    _no_errors(browser)


# ---- Evaluate -----------------------------------------------------------------------------

def _open_biggest_error(driver) -> tuple[int, int, int]:
    cells = "td.cell.clickable:not(.diagonal)"
    wait(driver, lambda d: find(d, cells), "the confusion matrix")
    biggest = max(find(driver, cells), key=lambda cell: int(cell.text))
    true, predicted = map(int, biggest.get_attribute("data-testid").split("-")[1:])
    count = int(biggest.text)
    biggest.click()
    wait(driver, lambda d: len(find(d, '[data-testid="cell-digit"]')) == min(count, 100),
         "the cell's digits")
    return true, predicted, count


def test_evaluate_page_shows_a_cells_digits(browser, site, screenshots):
    open_page(browser, site, "/evaluate")
    true, predicted, count = _open_biggest_error(browser)
    assert len(find(browser, "td.cell")) == 100
    assert f"{count} test digit" in find(browser, "#cell-title")[0].text
    caption = find(browser, "table.per-class caption")[0].text
    low = float(caption.split("Bars from ")[1].split(" %")[0])
    worst = min(float(td.text.split(" %")[0]) for td in find(browser, "table.per-class td:nth-of-type(1)"))
    assert 50 <= low < worst, "an axis from below the worst digit, not from 0"
    shares = browser.execute_script(
        "return [...document.querySelectorAll('table.per-class td.track')].map(td =>"
        " td.querySelector('.fill').getBoundingClientRect().width /"
        " td.querySelector('.bar').getBoundingClientRect().width)")
    accuracies = [float(td.text.split(" %")[0]) for td in find(browser, "table.per-class td:nth-of-type(1)")]
    assert shares == pytest.approx([(a - low) / (100 - low) for a in accuracies], abs=0.01), \
        "each bar's length is its accuracy on that axis"
    shoot(browser, screenshots, "evaluate.png")
    _no_errors(browser)


def test_a_misread_digit_opens_in_the_draw_page(browser, site, screenshots):
    open_page(browser, site, "/evaluate")
    true, predicted, _ = _open_biggest_error(browser)
    find(browser, '[data-testid="cell-digit"] a')[0].click()
    wait(browser, lambda d: find(d, '[data-testid="test-note"]') and
         find(d, '[data-testid="test-note"]')[0].is_displayed(), "the test digit")
    answered(browser)
    note = find(browser, '[data-testid="test-note"]')[0].text
    assert note.startswith("Test digit #") and f"labelled {true}" in note
    assert find(browser, '[data-testid="top-digit"]')[0].text == str(predicted)
    assert _stage_names(browser)[0] == "input" and len(_stage_names(browser)) == 13
    shoot(browser, screenshots, "draw_test_digit.png")
    _no_errors(browser)


def test_evaluate_page_without_a_test_set_says_how(browser, runs):
    with running([runs / "lenet5"]) as server:
        open_page(browser, server, "/evaluate")
        wait(browser, lambda d: "--data-dir" in find(d, "#eval-status")[0].text, "the notice")
        _no_errors(browser)


# ---- Access -------------------------------------------------------------------------------

def test_every_page_passes_axe_and_says_where_it_is(browser, site):
    for path, ready in (("/", "#models .model-card"), ("/runs", ".run-card"),
                        ("/evaluate", "td.cell")):
        open_page(browser, site, path)
        wait(browser, lambda d: find(d, ready), f"{path} drawn")
        assert len(find(browser, "h1")) == 1, path
        current = find(browser, 'nav a[aria-current="page"]')
        assert [a.get_attribute("pathname") for a in current] == [path]
        if path == "/":
            draw(browser, [SEVEN])
            answered(browser)
            live = find(browser, '[data-testid="answer"]')[0]
            assert live.get_attribute("aria-live") == "polite" and "reads 7" in live.text
            assert axe_violations(browser) == [], path
            find(browser, '[data-stage="C3"] canvas.map')[0].click()
            wait(browser, lambda d: find(d, "dialog#zoom[open]"), "the inspector")
        if path == "/evaluate":
            tabs = find(browser, '[role="tab"]')
            assert [t.get_attribute("aria-selected") for t in tabs] == ["true", "false", "false", "false"]
            _open_biggest_error(browser)
        assert axe_violations(browser) == [], path
    _no_errors(browser)


def test_tabs_and_cells_by_keyboard(browser, site):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(browser, site, "/evaluate")
    wait(browser, lambda d: find(d, "td.cell.clickable"), "the confusion matrix")
    tab = find(browser, '[role="tab"]')[0]
    tab.send_keys(Keys.ARROW_RIGHT)
    wait(browser, lambda d: find(d, '[role="tab"]')[1].get_attribute("aria-selected") == "true",
         "the second tab")
    wait(browser, lambda d: "lenet5_paper (" in find(d, "#eval-status")[0].text, "the second model")
    cell = find(browser, "td.cell.clickable.diagonal")[0]
    browser.execute_script("arguments[0].focus()", cell)
    ActionChains(browser).send_keys(Keys.SPACE).perform()
    wait(browser, lambda d: find(d, '[data-testid="cell-digit"]'), "the cell's digits")
    _no_errors(browser)


# ---- A phone: 390×844 with touch ------------------------------------------------------------

def _fits(driver) -> None:
    width = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1] == PHONE[0], width


def _on_screen(driver, selector: str) -> bool:
    return driver.execute_script(
        "const b = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return b.top >= 0 && b.bottom <= window.innerHeight && b.height > 0", selector)


def test_phone_draw(phone, site, screenshots):
    open_page(phone, site, "/")
    _cards_ready(phone)
    _record_pointer_types(phone)
    draw(phone, [SEVEN], touch=True)
    assert _top_digit(phone) == "7"
    assert phone.execute_script("return window.pointerTypes") == ["touch"]
    assert _on_screen(phone, '[data-testid="answer"]') and _on_screen(phone, "#pad"), \
        "the answer on screen while drawing"
    assert "reads 7" in find(phone, '[data-testid="answer"]')[0].text
    _fits(phone)
    assert small_targets(phone) == []
    shoot(phone, screenshots, "phone_draw.png", screen=True)
    map_ = find(phone, '[data-stage="C3"] canvas.map')[0]
    phone.execute_script("arguments[0].scrollIntoView()", map_)
    map_.click()
    wait(phone, lambda d: find(d, "dialog#zoom[open]"), "the inspector")
    inside = phone.execute_script("""
        const d = document.getElementById('zoom').getBoundingClientRect();
        const c = document.getElementById('zoom-canvas').getBoundingClientRect();
        return [d.left >= 0, d.right <= window.innerWidth, c.left >= d.left, c.right <= d.right];""")
    assert inside == [True] * 4, "issue 31, bug 4: the enlarged map inside its dialog"
    _unit_agrees(phone)
    _fits(phone)
    shoot(phone, screenshots, "phone_inspect.png", screen=True)
    _no_errors(phone)


def test_phone_runs_and_evaluate(phone, site, screenshots):
    open_page(phone, site, "/runs")
    wait(phone, lambda d: find(d, ".run-card"), "the runs")
    _fits(phone)
    assert small_targets(phone) == []
    legend = phone.execute_script("return document.getElementById('legend').getBoundingClientRect().height")
    assert legend <= 3 * 24, f"the legend takes {legend} px, more than three lines"
    phone.execute_script("document.getElementById('legend').scrollIntoView()")
    shoot(phone, screenshots, "phone_runs.png", screen=True)

    open_page(phone, site, "/evaluate")
    wait(phone, lambda d: find(d, "td.cell.clickable"), "the confusion matrix")
    _fits(phone)
    assert small_targets(phone) == []
    shoot(phone, screenshots, "phone_evaluate.png", screen=True)
    _open_biggest_error(phone)
    assert _on_screen(phone, "#cell-title"), "a tapped cell brings its digits into view"
    _fits(phone)
    shoot(phone, screenshots, "phone_evaluate_cell.png", screen=True)
    _no_errors(phone)
