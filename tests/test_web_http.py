"""The web app over HTTP (standard library client, server on port 0 in a thread): every
endpoint, its answers checked against the library's own, and every refusal of the security
list: 413 unread, 411, 400 for bad images (the server keeps serving), 404 for paths that
try to reach the file system, 403 for a foreign Host or Origin, socket timeouts, concurrent
requests, and scripts/serve.py's warning and clean Ctrl-C."""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lenet_xp
from lenet_xp.data import load_mnist
from lenet_xp.data.images import digit_from_file
from lenet_xp.inference.evaluation import evaluate_digits
from lenet_xp.web import served as served_module
from lenet_xp.web.security import MAX_BODY, MAX_PIXELS
from lenet_xp.web.static import FILES
from mnist_files import learnable_arrays, train_quietly, write_fake_mnist
from web_server import call, raw, running

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
MODELS = ("lenet5", "lenet5_paper")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """Two runs trained briefly on learnable fake digits, and their data folder."""
    root = tmp_path_factory.mktemp("web")
    write_fake_mnist(root / "data", learnable_arrays(n_train=600, n_test=200))
    for model, recipe in (("lenet5", {"epochs": 2}), ("lenet5_paper", {"epochs": 1, "batch_size": 20})):
        train_quietly(root / "data", root / model, recipe, model=model, threads=1)
    return root


@pytest.fixture(scope="module")
def server(root):
    with running([root / name for name in MODELS], data_dir=root / "data") as server:
        yield server


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _drawn_one() -> bytes:
    """A dark stroke on light paper, as the Draw page sends it."""
    page = np.full((280, 280), 255, np.uint8)
    page[40:240, 125:150] = 0
    return _png(page)


def _pixels(image: dict) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(image["pixels"]), np.uint8)
    return data.reshape(image["height"], image["width"])


# ---- pages and files ---------------------------------------------------------------------

def test_pages_and_their_files(server):
    for url, (name, kind) in FILES.items():
        status, headers, content = call(server, "GET", url)
        assert status == 200 and headers["Content-Type"] == kind, url
        assert content == (Path(lenet_xp.__file__).parent / "web" / "static" / name).read_bytes()
        assert headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert headers["X-Content-Type-Options"] == "nosniff"
    folder = Path(lenet_xp.__file__).parent / "web" / "static"
    assert {name for name, _ in FILES.values()} == {f.name for f in folder.iterdir()}, \
        "every file of static/ is served, and nothing else"
    for page in ("/", "/runs", "/evaluate"):
        html = call(server, "GET", page)[2].decode()
        assert 'src="http' not in html and 'href="http' not in html, "nothing from another host"
    draw = call(server, "GET", "/")[2].decode()
    assert 'data-testid="pad"' in draw and 'data-testid="upload"' in draw
    assert "touch-action: none" in call(server, "GET", "/static/style.css")[2].decode()


def test_models_lists_what_is_served(server, root):
    status, _, answer = call(server, "GET", "/api/models")
    assert status == 200
    assert [m["name"] for m in answer["models"]] == list(MODELS)
    assert [m["network"] for m in answer["models"]] == list(MODELS)
    assert answer["models"][0]["parameters"] == lenet_xp.load_model(
        root / "lenet5" / "model.npz").num_parameters()
    assert answer["runs"] == list(MODELS) and answer["evaluation"] is True
    meta = lenet_xp.load_model(root / "lenet5" / "model.npz").meta
    first = answer["models"][0]
    assert (first["epoch"], first["epochs"], first["test_accuracy"]) == (2, 2, meta["test_accuracy"])
    assert first["version"], "a name of the weights loaded, which changes with them"


def _mid_resume(root, folder: Path) -> Path:
    """``folder``: the finished 2-epoch lenet5 run while it is resumed for a third epoch, just
    after that epoch: its old model.npz, the newer checkpoint.npz of epoch 3, and the
    metrics.jsonl that the resume rewrote (epochs only, no test record yet)."""
    from lenet_xp.training.resume import resume_run

    ahead = folder.parent / f"{folder.name}-ahead"
    shutil.copytree(root / "lenet5", ahead)
    resume_run(ahead, recipe_changes={"epochs": 3}, log=lambda line: None)
    shutil.copytree(root / "lenet5", folder)
    shutil.copy(ahead / "checkpoint.npz", folder / "checkpoint.npz")
    later = (folder / "model.npz").stat().st_mtime + 5
    os.utime(folder / "checkpoint.npz", (later, later))
    epochs = [line for line in (ahead / "metrics.jsonl").read_text().splitlines(keepends=True)
              if '"epoch"' in line and '"test"' not in line]
    (folder / "metrics.jsonl").write_text("".join(epochs))
    return folder


def test_a_finished_run_resumed_for_more_epochs_is_followed(root, tmp_path):
    """Issue 31, bug 7: the newer checkpoint is served, not the old model.npz, and the run is
    training again with the epochs its checkpoint plans."""
    folder = _mid_resume(root, tmp_path / "resumed")
    with running([folder]) as server:
        model = call(server, "GET", "/api/models")[2]["models"][0]
        assert (model["epoch"], model["epochs"], model["test_accuracy"]) == (3, 3, None)
        history = lenet_xp.load_model(folder / "checkpoint.npz").meta["history"]
        assert model["val_accuracy"] == history[-1]["val_accuracy"] is not None
        run = call(server, "GET", "/api/runs/resumed")[2]
        assert run["test"] is None and run["recipe"]["epochs"] == 3 and len(run["epochs"]) == 3
        assert run["loss"] == "cross-entropy"
        answer = call(server, "POST", "/api/predict?top=10", body=_drawn_one())[2]
        newer = lenet_xp.load_model(folder / "checkpoint.npz")
        assert answer["predictions"][0]["top"] == [
            list(p) for p in newer.predict_files([("one", _drawn_one())], 10)[0].top]


def test_a_run_folder_that_does_not_exist_yet_is_waited_for(root, tmp_path):
    """Issue 31, bug 8: served at once, said to be waiting, followed once train.py makes it."""
    folder = tmp_path / "later"
    with running([folder, root / "lenet5"]) as server:
        models = call(server, "GET", "/api/models")[2]["models"]
        assert "waiting for" in models[0]["error"] and "does not exist yet" in models[0]["error"]
        assert call(server, "GET", "/api/runs/later")[2]["epochs"] == []
        assert models[1]["name"] == "lenet5" and "error" not in models[1]
        shutil.copytree(root / "lenet5", folder)
        models = call(server, "GET", "/api/models")[2]["models"]
        assert models[0]["epoch"] == 2 and "error" not in models[0]
        assert len(call(server, "GET", "/api/runs/later")[2]["epochs"]) == 2


# ---- predict ---------------------------------------------------------------------------

def test_predict_answers_what_predict_py_answers(server, root, tmp_path):
    image = tmp_path / "one.png"
    image.write_bytes(_drawn_one())
    for top in (3, 10):
        status, _, answer = call(server, "POST", f"/api/predict?top={top}", body=image.read_bytes())
        assert status == 200
        assert [p["model"] for p in answer["predictions"]] == list(MODELS)
        for prediction, name in zip(answer["predictions"], MODELS):
            result = subprocess.run([sys.executable, str(SCRIPTS / "predict.py"),
                                     str(root / name / "model.npz"), str(image), "--json",
                                     "--top", str(top)], capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, result.stderr
            assert prediction["top"] == json.loads(result.stdout)["top"], name
            assert len(prediction["top"]) == top
    seen = _pixels(answer["digit"])
    np.testing.assert_array_equal(seen, digit_from_file(image))
    model = lenet_xp.load_model(root / "lenet5" / "model.npz")
    assert answer["predictions"][0]["top"] == [list(p) for p in model.predict_files([image], 10)[0].top]


def _floats(sent: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(sent["data"]), "<f4").reshape(sent["shape"])


def test_predict_shows_every_layer(server, root):
    status, _, answer = call(server, "POST", "/api/predict?top=10", body=_drawn_one())
    assert status == 200
    layers = answer["layers"]
    assert layers["model"] == "lenet5"
    status, _, network = call(server, "GET", "/api/network/lenet5")
    assert status == 200 and network["version"] == layers["version"] is not None
    assert [(s["name"], s["kind"], s["shape"]) for s in network["stages"]] == [
        ("input", "maps", [1, 32, 32]), ("C1", "maps", [6, 28, 28]), ("S2", "maps", [6, 14, 14]),
        ("A2", "maps", [6, 14, 14]), ("C3", "maps", [16, 10, 10]), ("S4", "maps", [16, 5, 5]),
        ("A4", "maps", [16, 5, 5]), ("C5", "vector", [120, 1, 1]), ("A5", "vector", [120, 1, 1]),
        ("F6", "vector", [84]), ("A6", "vector", [84]), ("OUT", "classes", [10]),
        ("scores", "classes", [10])]
    values = [_floats(stage) for stage in layers["stages"]]
    model = lenet_xp.load_model(root / "lenet5" / "model.npz")
    digit = _pixels(answer["digit"])
    np.testing.assert_array_equal(values[0], model.prepare(digit)[0])
    np.testing.assert_allclose(values[1], model.feature_maps(digit)[0][1], rtol=1e-6)  # C1 raw
    assert values[3].min() >= 0 and values[2].min() < 0, "S2 before its ReLU, A2 after"
    np.testing.assert_array_equal(_floats(network["stages"][1]["params"]["weight"]),
                                  model.network["C1"].weight.data)
    softmax = values[-1]
    assert softmax.sum() == pytest.approx(1.0)
    scores = dict(answer["predictions"][0]["top"])
    assert list(softmax) == pytest.approx([scores[c] for c in range(10)])
    assert answer["doubt"] is None

    status, _, paper = call(server, "POST", "/api/predict?layers=lenet5_paper", body=_drawn_one())
    network = call(server, "GET", "/api/network/lenet5_paper")[2]
    rbf, posterior = network["stages"][-2:]
    assert (rbf["name"], rbf["layer"], posterior["op"]["type"]) == ("RBF", "EuclideanRBF", "map")
    penalties = _floats(paper["layers"]["stages"][-2])
    prediction = paper["predictions"][1]
    assert prediction["penalties"] == pytest.approx(list(penalties))
    assert int(np.argmin(penalties)) == prediction["top"][0][0], "the smallest penalty wins"
    shares = _floats(paper["layers"]["stages"][-1])
    assert prediction["none"] == pytest.approx(1 - shares.sum(), abs=1e-6) and prediction["none"] > 0
    assert prediction["score_kind"] == "map_posterior" and "penalties" not in answer["predictions"][0]


def test_predict_doubts_ink_that_is_no_digit(server):
    page = np.full((280, 280), 255, np.uint8)
    yy, xx = np.mgrid[:280, :280]
    page[(yy - 140) ** 2 + (xx - 140) ** 2 <= 100] = 0  # one tap of the pen
    answer = call(server, "POST", "/api/predict", body=_png(page))[2]
    assert "a dot, a blot or a scribble" in answer["doubt"]
    assert answer["predictions"][0]["top"], "still classified, with the warning beside it"


def test_the_pad_sends_pgm(server):
    """The Draw page sends its pad as a PGM file (no PNG encoding at pen-up)."""
    page = np.full((280, 280), 255, np.uint8)
    page[40:240, 125:150] = 0
    pgm = b"P5 280 280 255\n" + page.tobytes()
    assert call(server, "POST", "/api/predict?top=10", body=pgm)[2] == \
        call(server, "POST", "/api/predict?top=10", body=_png(page))[2]


def test_a_test_digit_is_answered_as_the_evaluation_scored_it(server, root):
    data = load_mnist(root / "data", verify=False, download=False)
    status, _, answer = call(server, "GET", "/api/testset/7?top=10&layers=lenet5_paper")
    assert status == 200 and answer["test"] == {"index": 7, "label": int(data.test_labels[7])}
    np.testing.assert_array_equal(_pixels(answer["digit"]), data.test_images[7])
    model = lenet_xp.load_model(root / "lenet5" / "model.npz")
    assert answer["predictions"][0]["top"] == [list(p) for p in model.predict(data.test_images[7:8]).top(10)[0]]
    assert answer["layers"]["model"] == "lenet5_paper"
    status, _, answer = call(server, "GET", f"/api/testset/{len(data.test_images)}")
    assert status == 404 and "give 0 to" in answer["error"]
    assert call(server, "GET", "/api/network/nobody")[0] == 404
    assert call(server, "POST", "/api/testset/7")[0] == 405


def test_concurrent_predictions_match_one_at_a_time(server):
    rng = np.random.default_rng(0)
    images = []
    for _ in range(12):
        page = np.full((120, 120), 255, np.uint8)
        top, left = rng.integers(10, 60, size=2)
        page[top:top + rng.integers(20, 50), left:left + rng.integers(8, 50)] = 0
        images.append(_png(page))
    alone = [call(server, "POST", "/api/predict?top=10", body=image)[2] for image in images]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda image: call(server, "POST", "/api/predict?top=10",
                                                    body=image)[2], images * 2))
    assert together == alone * 2


def test_each_handler_thread_makes_its_model_s_device_current(server, monkeypatch):
    """CuPy's current device is per thread: a server of cuda:1 whose handler threads did not
    make it current would compute on GPU 0. Every thread that computes calls use() first
    (recorded on numpy's backend, which the served models run on)."""
    from lenet_xp.backends.numpy_backend import NumpyBackend

    threads = []
    monkeypatch.setattr(NumpyBackend, "use",
                        lambda self: threads.append(threading.current_thread().name))
    for _ in range(2):
        assert call(server, "POST", "/api/predict", body=_drawn_one())[0] == 200
    assert call(server, "GET", "/api/evaluation/lenet5/cell?true=1&predicted=1")[0] == 200
    assert threads and threading.current_thread().name not in threads, "the handlers' threads"
    assert len(set(threads)) >= 3, "each request's own thread: two predictions and a cell"


# ---- runs ------------------------------------------------------------------------------

def test_a_runs_curves_and_recipe(server, root):
    status, _, answer = call(server, "GET", "/api/runs/lenet5")
    assert status == 200
    lines = [json.loads(line) for line in (root / "lenet5" / "metrics.jsonl").read_text().splitlines()]
    assert answer["epochs"] == [r for r in lines if r["event"] == "epoch"] and len(answer["epochs"]) == 2
    assert answer["test"] == lines[-1] and answer["test"]["event"] == "test"
    meta = lenet_xp.load_model(root / "lenet5" / "model.npz").meta
    assert answer["recipe"] == meta["recipe"] and answer["network"] == "lenet5"
    assert answer["problems"] == []


def test_a_run_still_training_is_followed(root, tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    lines = (root / "lenet5" / "metrics.jsonl").read_text().splitlines(keepends=True)
    (live / "metrics.jsonl").write_text(lines[0])  # one epoch done, no checkpoint yet
    with running([live]) as server:
        answer = call(server, "GET", "/api/runs/live")[2]
        assert len(answer["epochs"]) == 1 and answer["test"] is None and answer["recipe"] is None
        assert "no weights yet" in call(server, "GET", "/api/models")[2]["models"][0]["error"]
        predictions = call(server, "POST", "/api/predict", body=_drawn_one())[2]["predictions"]
        assert "no weights yet" in predictions[0]["error"]

        shutil.copy(root / "lenet5_paper" / "model.npz", live / "checkpoint.npz")
        with (live / "metrics.jsonl").open("a") as file:
            file.write(lines[1][:20])  # half of epoch 2's line
        answer = call(server, "GET", "/api/runs/live")[2]
        assert len(answer["epochs"]) == 1 and answer["network"] == "lenet5_paper"
        with (live / "metrics.jsonl").open("a") as file:
            file.write(lines[1][20:])
        assert len(call(server, "GET", "/api/runs/live")[2]["epochs"]) == 2

        shutil.copy(root / "lenet5" / "model.npz", live / "model.npz")  # the run has ended
        assert call(server, "GET", "/api/models")[2]["models"][0]["network"] == "lenet5"
        predictions = call(server, "POST", "/api/predict", body=_drawn_one())[2]["predictions"]
        model = lenet_xp.load_model(live / "model.npz")
        assert predictions[0]["top"] == [list(p) for p in model.predict_files(
            [("x", _drawn_one())])[0].top]


# ---- evaluation ------------------------------------------------------------------------

def test_evaluation_is_computed_once_per_model(server, root, monkeypatch):
    calls = []

    def counted(*args):
        calls.append(args[0].name)
        return evaluate_digits(*args)

    monkeypatch.setattr(served_module, "evaluate_digits", counted)
    status, _, answer = call(server, "GET", "/api/evaluation/lenet5")
    assert status == 200
    test = load_mnist(root / "data", verify=False, download=False)
    model = lenet_xp.load_model(root / "lenet5" / "model.npz")
    expected = evaluate_digits(model, test.test_images, test.test_labels).to_dict()
    for key in ("test_accuracy", "confusion", "per_class_accuracy", "errors", "count"):
        assert answer[key] == expected[key], key
    assert answer["test_accuracy"] == pytest.approx(json.loads(
        (root / "lenet5" / "metrics.jsonl").read_text().splitlines()[-1])["test_accuracy"])
    for _ in range(3):
        assert call(server, "GET", "/api/evaluation/lenet5")[2] == answer
    call(server, "GET", "/api/evaluation/lenet5/cell?true=0&predicted=0")
    assert calls.count("lenet5") <= 1, "at most once (the first call may precede this test)"


def test_a_confusion_cell_shows_its_digits(server, root):
    answer = call(server, "GET", "/api/evaluation/lenet5_paper")[2]
    confusion = np.array(answer["confusion"])
    test = load_mnist(root / "data", verify=False, download=False)
    errors = confusion - np.diag(np.diag(confusion))
    true, predicted = np.unravel_index(np.argmax(errors), errors.shape) if errors.any() else (0, 0)
    status, _, cell = call(server, "GET", f"/api/evaluation/lenet5_paper/cell?true={true}"
                                          f"&predicted={predicted}")
    assert status == 200 and cell["count"] == confusion[true, predicted] > 0
    assert len(cell["digits"]) == min(cell["count"], 100)
    for digit in cell["digits"]:
        assert test.test_labels[digit["index"]] == true
        np.testing.assert_array_equal(_pixels(digit["image"]), test.test_images[digit["index"]])
        assert digit["top"][0][0] == predicted and len(digit["top"]) == 3


def test_evaluation_without_a_test_set_says_how_to_get_one(root):
    with running([root / "lenet5"]) as server:
        assert call(server, "GET", "/api/models")[2]["evaluation"] is False
        status, _, answer = call(server, "GET", "/api/evaluation/lenet5")
        assert status == 503 and "--data-dir" in answer["error"]


# ---- refusals ----------------------------------------------------------------------------

def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _json_body(response: bytes) -> dict:
    return json.loads(response.partition(b"\r\n\r\n")[2])


def test_a_body_over_1_mib_gets_413_without_being_read(server):
    port = server.server_port
    start = time.perf_counter()
    # only the headers are sent: an answer that waited for the body would never come
    response = raw(server, (f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                            f"Content-Length: {MAX_BODY + 1}\r\n\r\n").encode())
    assert _status(response) == 413 and "more than the 1,048,576" in _json_body(response)["error"]
    assert time.perf_counter() - start < 5
    assert call(server, "POST", "/api/predict", body=_png(np.zeros((8, 8), np.uint8)))[0] == 400
    just_under = _png(np.zeros((8, 8), np.uint8)).ljust(MAX_BODY, b"\0")
    assert call(server, "POST", "/api/predict", body=just_under)[0] == 400, "read, then judged"


def test_a_body_without_its_length_gets_411(server):
    port = server.server_port
    response = raw(server, f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert _status(response) == 411 and "Content-Length" in _json_body(response)["error"]
    response = raw(server, (f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n").encode())
    assert _status(response) == 411


def test_bad_images_get_400_and_the_server_keeps_serving(server, tmp_path):
    whole = _drawn_one()
    tga = io.BytesIO()
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(tga, format="TGA")
    huge = io.BytesIO()
    Image.new("1", (2049, 2048), 1).save(huge, format="PNG")  # tiny file, 4.2 million pixels
    cases = {b"": "empty body",
             b"this is not an image": "not an image in a format lenet_xp reads",
             whole[:len(whole) // 2]: "truncated or corrupt",
             tga.getvalue(): "not an image in a format lenet_xp reads",
             huge.getvalue(): f"2049x2048 is 4,196,352 pixels, more than the {MAX_PIXELS:,}",
             _png(np.full((50, 50), 255, np.uint8)): "no ink found"}
    assert len(huge.getvalue()) < 100_000
    for body, message in cases.items():
        status, headers, answer = call(server, "POST", "/api/predict", body=body)
        assert status == 400 and headers["Content-Type"] == "application/json"
        assert answer["error"].startswith("uploaded image: ") and message in answer["error"]
    assert call(server, "POST", "/api/predict", body=whole)[0] == 200


def test_the_servers_pixel_limit_is_its_max_pixels(root):
    """``scripts/serve.py --max-pixels N``: the same guard as predict.py's, the server's limit."""
    drawn = _drawn_one()  # 280x280
    with running([root / "lenet5"], max_pixels=280 * 280 - 1) as strict:
        status, _, answer = call(strict, "POST", "/api/predict", body=drawn)
        assert status == 400 and answer["error"] == (
            "uploaded image: 280x280 is 78,400 pixels, more than the 78,399 allowed "
            "(--max-pixels): make the image smaller")
    with running([root / "lenet5"], max_pixels=280 * 280) as enough:
        assert call(enough, "POST", "/api/predict", body=drawn)[0] == 200


@pytest.mark.parametrize("path", [
    "/../pyproject.toml", "/static/../../pyproject.toml", "/static/..%2f..%2fpyproject.toml",
    "/%2e%2e/%2e%2e/pyproject.toml", "/static/%2e%2e/draw.html", "//etc/passwd", "/etc/passwd",
    "/static/style.css/", "/static/", "/STATIC/style.css", "/static/draw.html",
    "/api/runs/..", "/api/runs/%2e%2e", "/api/runs/../lenet5", "/api/runs/lenet5/../../x",
    "/api/runs//etc/passwd", "/api/evaluation/%2e%2e%2flenet5", "/api/runs/runs",
    "http://127.0.0.1/etc/passwd", "/favicon.ico"])
def test_no_url_reaches_the_file_system(server, path):
    status, _, answer = call(server, "GET", path)
    assert status == 404 and "error" in answer


def test_a_foreign_host_is_refused(server):
    port = server.server_port
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}",
                 f"127.0.0.1:{port + 1}", "localhost:x"):
        status, _, answer = call(server, "GET", "/api/models", headers={"Host": host})
        assert status == 403 and "does not answer for host" in answer["error"], host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
        assert call(server, "GET", "/api/models", headers={"Host": host})[0] == 200, host
    response = raw(server, b"GET /api/models HTTP/1.0\r\n\r\n")  # HTTP/1.0 may omit Host
    assert _status(response) == 403


def test_a_post_from_another_sites_page_is_refused(server):
    port = server.server_port
    status, _, answer = call(server, "POST", "/api/predict", body=_drawn_one(),
                             headers={"Origin": "http://evil.example"})
    assert status == 403 and "refused" in answer["error"]
    status, _, _ = call(server, "POST", "/api/predict", body=_drawn_one(),
                        headers={"Origin": f"http://127.0.0.1:{port}"})
    assert status == 200


def test_wrong_methods_names_and_parameters(server):
    assert call(server, "GET", "/api/predict")[0] == 405
    assert call(server, "POST", "/api/models", body=b"")[0] == 405
    assert call(server, "GET", "/api/runs/nothing")[0] == 404
    assert call(server, "GET", "/api/evaluation/nothing")[0] == 404
    for query in ("top=0", "top=11", "top=two", "layers=nothing"):
        status, _, answer = call(server, "POST", f"/api/predict?{query}", body=_drawn_one())
        assert status in (400, 404) and query.split("=")[0] in answer["error"]
    for query in ("true=1", "true=10&predicted=1", "true=-1&predicted=1"):
        status, _, answer = call(server, "GET", f"/api/evaluation/lenet5/cell?{query}")
        assert status == 400, query


def test_a_silent_client_loses_its_connection(root):
    with running([root / "lenet5"], timeout=0.5) as server:
        start = time.perf_counter()
        response = raw(server, b"GET /api/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # unfinished
        assert response == b"" and time.perf_counter() - start < 5, "closed by the server"
        assert call(server, "GET", "/api/models")[0] == 200


# ---- scripts/serve.py ----------------------------------------------------------------------

def _start(*args) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, str(SCRIPTS / "serve.py"), *map(str, args)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = process.stdout.readline()
    assert "open http://" in first, process.stderr.read() if process.poll() is not None else first
    return process, first.split("open ")[1].split()[0]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_serve_py_serves_until_ctrl_c_or_kill(root, signum):
    process, url = _start(root / "lenet5", "--port", "0")
    try:
        assert url.startswith("http://127.0.0.1:")
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/api/models")
        assert connection.getresponse().status == 200
        connection.close()
        process.send_signal(signum)
        assert process.wait(timeout=20) == 0
        assert "stopped" in process.stdout.read() and "Traceback" not in process.stderr.read()
    finally:
        process.kill()


def test_serve_py_waits_for_a_run_folder_that_does_not_exist_yet(root, tmp_path):
    process, url = _start(tmp_path / "soon", root / "lenet5", "--port", "0")
    try:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert f"waiting for {tmp_path / 'soon'}" in process.stderr.read()
    finally:
        process.kill()


def test_serve_py_warns_when_open_to_the_network(root):
    process, url = _start(root / "lenet5", "--port", "0", "--host", "0.0.0.0")
    try:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert "anyone on your network can use this server" in process.stderr.read()
    finally:
        process.kill()


def test_serve_py_errors(root, tmp_path):
    def serve(*args):
        return subprocess.run([sys.executable, str(SCRIPTS / "serve.py"), *map(str, args)],
                              capture_output=True, text=True, timeout=120)

    result = serve(tmp_path / "missing.npz")
    assert result.returncode == 1 and "missing.npz: no such file" in result.stderr
    (tmp_path / "notes.txt").write_text("not a run")
    result = serve(tmp_path)
    assert result.returncode == 1 and "is not a run folder" in result.stderr
    (tmp_path / "junk.npz").write_bytes(b"junk")
    result = serve(tmp_path / "junk.npz")
    assert result.returncode == 1 and "not a readable lenet_xp file" in result.stderr
    result = serve(root / "lenet5", "--data-dir", tmp_path, "--port", "0")
    assert result.returncode == 1 and "error:" in result.stderr and "Traceback" not in result.stderr
    result = serve(root / "lenet5", "--device", "tpu")
    assert result.returncode == 2 and "unknown device" in result.stderr


def test_serve_load_py_counts_right_answers(root):
    result = subprocess.run([sys.executable, str(SCRIPTS / "serve_load.py"), str(root / "lenet5"),
                             str(root / "lenet5_paper"), "--requests", "16", "--concurrency", "4"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "16 requests, 4 at a time: 16 answered right, 0 wrong, 0 failed" in result.stdout
    assert "latency p50" in result.stdout and "server memory (VmRSS)" in result.stdout


def test_serve_py_says_when_the_port_is_taken(root):
    process, url = _start(root / "lenet5", "--port", "0")
    try:
        port = url.rstrip("/").rsplit(":", 1)[1]
        result = subprocess.run([sys.executable, str(SCRIPTS / "serve.py"), str(root / "lenet5"),
                                 "--port", port], capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
