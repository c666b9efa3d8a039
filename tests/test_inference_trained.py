"""lenet_xp.load_model: a trained model classifies raw digits and image files, on numpy and
on every library where its arrays live apart from the host (array_api_strict's simulated
device1, PyTorch, GPUs: tests/backends.py), with clear errors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

import lenet_xp
from lenet_xp.data import load_mnist
from lenet_xp.losses import MAPLoss, RBFCrossEntropy, SoftmaxCrossEntropy
from lenet_xp.runs.checkpoint import CheckpointError
from lenet_xp.training import IO, RunConfig, run
from backends import device_params
from mnist_files import learnable_arrays, train_quietly, write_fake_mnist



@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A lenet5 trained for two epochs on learnable fake digits: (run folder, data folder)."""
    root = tmp_path_factory.mktemp("trained")
    write_fake_mnist(root / "data", learnable_arrays(n_train=600, n_test=200))
    train_quietly(root / "data", root / "run", {"epochs": 2})
    return root / "run", root / "data"


@pytest.mark.parametrize("device", device_params("end_to_end"))
def test_predict_raw_digits(trained, device):
    run_dir, data_dir = trained
    model = lenet_xp.load_model(run_dir / "model.npz", device=device)
    test = load_mnist(data_dir, verify=False, download=False)
    predictions = model.predict(test.test_images)
    assert predictions.labels.shape == (200,) and predictions.scores.shape == (200, 10)
    np.testing.assert_allclose(predictions.scores.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(predictions.labels == test.test_labels) >= 0.9
    top = predictions.top(3)
    assert [c for c, _ in top[0]][0] == predictions.labels[0]
    assert top[0][0][1] >= top[0][1][1] >= top[0][2][1]
    one = model.predict(test.test_images[5])  # a single (28, 28) digit
    assert one.labels.tolist() == [predictions.labels[5]]


@pytest.mark.parametrize("device", device_params("apart"))
def test_same_predictions_on_every_backend(trained, device):
    run_dir, data_dir = trained
    digits = load_mnist(data_dir, verify=False, download=False).test_images[:50]
    cpu, other = (lenet_xp.load_model(run_dir / "model.npz", device=d).predict(digits)
                  for d in ("cpu", device))
    np.testing.assert_array_equal(other.labels, cpu.labels)
    np.testing.assert_allclose(other.scores, cpu.scores, rtol=1e-5, atol=1e-7)


def test_predict_rejects_images_of_the_wrong_shape(trained):
    model = lenet_xp.load_model(trained[0] / "model.npz")
    with pytest.raises(ValueError, match=r"uint8 digits of shape \(N, 28, 28\)"):
        model.predict(np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        model.predict(np.zeros((2, 28, 28), np.float32))


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("device", device_params("end_to_end"))
def test_predict_files_keeps_going_past_bad_files(trained, tmp_path, device):
    model = lenet_xp.load_model(trained[0] / "model.npz", device=device)
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    (tmp_path / "one.png").write_bytes(_png(255 - np.kron(digit, np.ones((4, 4), np.uint8))))
    (tmp_path / "notes.png").write_text("not an image")
    Image.new("L", (40, 40), 255).save(tmp_path / "blank.png")
    results = model.predict_files([tmp_path / "one.png", tmp_path / "notes.png",
                                   ("<stdin>", _png(digit)), tmp_path / "blank.png"])
    assert [r.file for r in results] == [str(tmp_path / "one.png"), str(tmp_path / "notes.png"),
                                         "<stdin>", str(tmp_path / "blank.png")]
    good = [r for r in results if r.error is None]
    assert [r.file for r in good] == [str(tmp_path / "one.png"), "<stdin>"]
    for result in good:
        assert len(result.top) == 3 and result.digit.shape == (28, 28)
    assert good[0].top == good[1].top  # the same digit, drawn black on white and as it is
    assert "notes.png: not an image file" in results[1].error
    assert "blank.png: no ink found" in results[3].error


def test_feature_maps_follow_the_network(trained):
    model = lenet_xp.load_model(trained[0] / "model.npz", device="array_api_strict:device1")
    maps = model.feature_maps(np.zeros((28, 28), np.uint8))
    assert [(name, m.shape) for name, m in maps] == [
        ("C1", (6, 28, 28)), ("S2", (6, 14, 14)), ("C3", (16, 10, 10)), ("S4", (16, 5, 5))]
    assert all(m.min() >= 0 for name, m in maps if name in ("S2", "S4")), "after the ReLU"


def test_layer_outputs_go_down_to_the_output(trained):
    model = lenet_xp.load_model(trained[0] / "model.npz", device="array_api_strict:device1")
    digit = load_mnist(trained[1], verify=False, download=False).test_images[0]
    stages = model.layer_outputs(digit)
    assert [(name, y.shape) for name, y in stages] == [
        ("C1", (6, 28, 28)), ("S2", (6, 14, 14)), ("C3", (16, 10, 10)), ("S4", (16, 5, 5)),
        ("C5", (120, 1, 1)), ("F6", (84,)), ("OUT", (10,))]
    assert stages[5][1].min() >= 0, "F6 after its ReLU"
    logits = lenet_xp.backend.to_numpy(model.outputs(model.prepare(digit)))[0]
    np.testing.assert_allclose(stages[-1][1], logits, rtol=1e-6)
    for (name, maps), (same, stage) in zip(model.feature_maps(digit), stages):
        assert name == same and np.array_equal(maps, stage)


def test_scores_of_each_loss():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    softmax = SoftmaxCrossEntropy.scores(logits)
    np.testing.assert_allclose(softmax[0], np.exp(logits[0]) / np.exp(logits[0]).sum())
    np.testing.assert_allclose(RBFCrossEntropy.scores(-logits), softmax)
    penalties = np.array([[1.0, 4.0, 9.0], [30.0, 40.0, 50.0]])
    q = MAPLoss(j=5.0).scores(penalties)
    expected = np.exp(-penalties) / (np.exp(-5.0) + np.exp(-penalties).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(q, expected, rtol=1e-12)
    assert q[1].sum() < 1e-10, "far from every bitmap: the rubbish class takes it all"


def test_load_model_errors(trained, tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        lenet_xp.load_model(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable lenet_xp file"):
        lenet_xp.load_model(tmp_path / "junk.npz")
    with np.load(trained[0] / "model.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    meta = json.loads(str(arrays["meta"]))
    arrays["meta"] = np.array(json.dumps({**meta, "model": "deep_cnn"}))
    np.savez(tmp_path / "other.npz", **arrays)
    with pytest.raises(CheckpointError, match="does not fit the deep_cnn model"):
        lenet_xp.load_model(tmp_path / "other.npz")
    with pytest.raises(lenet_xp.DeviceError, match="unknown device"):
        lenet_xp.load_model(trained[0] / "model.npz", device="tpu")


@pytest.mark.slow
def test_photos_of_real_test_digits_are_recognised(shared_mnist, tmp_path):
    """Train briefly on the real MNIST, then photograph test digits as a person would show
    them (big, dark ink on tinted, noisy paper, JPEG): they are read as well as the raw ones."""
    run(RunConfig(val_size=1000, train_limit=10000, recipe={"epochs": 2},
                  io=IO(data_dir=str(shared_mnist), out=str(tmp_path / "run"), progress=False,
                        plot=False)), log=lambda line: None)
    model = lenet_xp.load_model(tmp_path / "run" / "model.npz")
    test = load_mnist(shared_mnist)
    digits, labels = test.test_images[:60], test.test_labels[:60]
    rng = np.random.default_rng(0)
    paths = []
    for index, digit in enumerate(digits):
        big = np.asarray(Image.fromarray(digit).resize((168, 168), Image.Resampling.BICUBIC), float)
        paper = np.array([235.0, 228.0, 200.0]) + rng.normal(0, 6, size=(168, 168, 3))
        ink = np.array([30.0, 30.0, 90.0])
        photo = paper + (ink - paper) * (big[..., None] / 255.0)
        canvas = np.full((240, 200, 3), 0.0) + paper.mean(axis=(0, 1))
        canvas[40:208, 10:178] = photo  # off-centre, with a margin
        paths.append(tmp_path / f"digit{index}.jpg")
        Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).save(paths[-1], quality=85)
    from_photos = np.array([r.top[0][0] for r in model.predict_files(paths)])
    from_raw = model.predict(digits).labels
    assert np.mean(from_raw == labels) >= 0.95
    assert np.mean(from_photos == labels) >= np.mean(from_raw == labels) - 0.05
