"""scripts/evaluate.py and lenet_xp.inference.evaluation: the training run's own test figure, the
confusion matrix and per-class accuracy, JSON, figures; and scripts/predict.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lenet_xp.inference.evaluation import Evaluation
from backends import device_params, float_tolerance
from mnist_files import learnable_arrays, train_quietly, write_fake_mnist

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def script(name, *args, input=None):
    """Run scripts/NAME; ``input`` (bytes) goes to its standard input."""
    result = subprocess.run([sys.executable, str(SCRIPTS / name), *map(str, args)],
                            capture_output=True, input=input, timeout=300)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(),
                                       result.stderr.decode())


@pytest.fixture(scope="module", params=["lenet5", "lenet5_paper"])
def trained(request, tmp_path_factory):
    """(run folder, data folder) of a model trained briefly on learnable fake digits."""
    root = tmp_path_factory.mktemp(request.param)
    write_fake_mnist(root / "data", learnable_arrays(n_train=600, n_test=200))
    recipe = {"epochs": 2} if request.param == "lenet5" else {"epochs": 2, "batch_size": 10}
    train_quietly(root / "data", root / "run", recipe, model=request.param)
    return root / "run", root / "data"


def test_evaluation_figures_from_known_predictions():
    labels = np.array([0, 0, 1, 1, 1, 2, 9, 9])
    predicted = np.array([0, 1, 1, 1, 2, 2, 4, 4])
    evaluation = Evaluation(labels, predicted, np.full(8, 0.9), loss=0.5)
    assert evaluation.accuracy == 4 / 8
    confusion = evaluation.confusion
    assert confusion.sum() == 8 and confusion[9, 4] == 2 and confusion[0, 1] == 1
    assert evaluation.per_class_accuracy[:3].tolist() == [0.5, 2 / 3, 1.0]
    assert np.isnan(evaluation.per_class_accuracy[5])  # no 5 in the labels
    assert evaluation.most_confused(2) == [(9, 4, 2), (0, 1, 1)]
    assert evaluation.misclassified.tolist() == [1, 4, 6, 7]
    record = evaluation.to_dict()
    assert record["per_class_accuracy"][5] is None and record["errors"] == 4
    json.dumps(record)  # JSON-able


@pytest.mark.parametrize("device", device_params("end_to_end"))
def test_evaluate_reports_the_training_runs_figure(trained, tmp_path, device):
    run_dir, data_dir = trained
    test_record = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    result = script("evaluate.py", run_dir / "model.npz", "--data-dir", data_dir, "--no-verify",
                    "--device", device, "--json", tmp_path / "e.json")
    assert result.returncode == 0, result.stderr
    figures = json.loads((tmp_path / "e.json").read_text())
    assert figures["test_accuracy"] == test_record["test_accuracy"]  # exactly
    assert figures["test_loss"] == pytest.approx(test_record["test_loss"],
                                                 rel=float_tolerance(device))
    assert np.array(figures["confusion"]).shape == (10, 10)
    assert np.array(figures["confusion"]).sum() == figures["count"] == 200
    assert len(figures["per_class_accuracy"]) == 10 and figures["epochs"] == 2
    shown = f"{100 * test_record['test_accuracy']:.2f}%"
    assert f"test accuracy {shown}" in result.stdout
    assert f"the training run reported {shown}" in result.stdout
    for part in ("per-class accuracy", "confusion matrix (rows: true digit",
                 "most-confused pairs", "parameters, trained 2 epochs"):
        assert part in result.stdout


def test_evaluate_draws_its_figures(trained, tmp_path):
    run_dir, data_dir = trained
    result = script("evaluate.py", run_dir / "model.npz", "--data-dir", data_dir, "--no-verify",
                    "--plots", tmp_path / "figures")
    assert result.returncode == 0, result.stderr
    expected = {"confusion.png", "misclassified.png", "filters.png", "feature_maps.png"}
    if "lenet5_paper" in str(run_dir):
        expected.add("rbf_bitmaps.png")
    assert {p.name for p in (tmp_path / "figures").iterdir()} == expected
    for name in expected:
        assert (tmp_path / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_errors_are_one_line(trained, tmp_path):
    run_dir, data_dir = trained
    result = script("evaluate.py", tmp_path / "none.npz", "--data-dir", data_dir)
    assert result.returncode == 1 and result.stderr.startswith("error: no checkpoint at")
    result = script("evaluate.py", run_dir / "model.npz", "--data-dir", tmp_path, "--no-download")
    assert result.returncode == 1 and str(tmp_path) in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    result = script("evaluate.py", run_dir / "model.npz", "--device", "tpu")
    assert result.returncode == 2 and "unknown device 'tpu'" in result.stderr


def _digit_files(folder: Path) -> list[Path]:
    """Three images of one block digit: black on white, white on black, colour JPEG."""
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    big = np.kron(digit, np.ones((5, 5), np.uint8))
    folder.mkdir()
    Image.fromarray(255 - big).save(folder / "a.png")
    Image.fromarray(big).save(folder / "b.bmp")
    Image.fromarray(np.stack([255 - big, 255 - big // 2, 255 - big // 3], axis=-1)).save(folder / "c.jpg")
    return sorted(folder.iterdir())


def test_predict_prints_the_top_classes(trained, tmp_path):
    run_dir, _ = trained
    files = _digit_files(tmp_path / "digits")
    result = script("predict.py", run_dir / "model.npz", *files)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(("lenet5 scores: probability", "lenet5_paper scores: posterior"))
    assert [line.split(":")[0] for line in lines[1:]] == [str(f) for f in files]
    assert all(line.count("(") == 3 for line in lines[1:]), "top 3 classes with their scores"


def test_predict_json_folder_stdin_and_failures(trained, tmp_path):
    run_dir, _ = trained
    folder = tmp_path / "digits"
    files = _digit_files(folder)
    whole = files[0].read_bytes()
    (folder / "broken.png").write_bytes(whole[: len(whole) // 2])
    (folder / "empty.png").write_bytes(b"")
    result = script("predict.py", run_dir / "model.npz", folder, "-", "--json", "--top", "2",
                    input=whole)
    assert result.returncode == 1, "some files failed"
    records = [json.loads(line) for line in result.stdout.splitlines()]
    by_file = {r["file"]: r for r in records}
    assert set(by_file) == {*(str(f) for f in files), str(folder / "broken.png"),
                            str(folder / "empty.png"), "<stdin>"}
    assert "truncated or corrupt" in by_file[str(folder / "broken.png")]["error"]
    assert "empty file" in by_file[str(folder / "empty.png")]["error"]
    assert by_file["<stdin>"]["top"] == by_file[str(files[0])]["top"]
    assert all(len(r["top"]) == 2 for r in records if "top" in r)


def test_predict_show_draws_what_the_network_saw(trained, tmp_path):
    run_dir, _ = trained
    files = _digit_files(tmp_path / "digits")
    result = script("predict.py", run_dir / "model.npz", files[0], "--show", tmp_path / "seen.png")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "seen.png").read_bytes()[:4] == b"\x89PNG"
    result = script("predict.py", run_dir / "model.npz", *files, "--show", tmp_path / "all.png")
    assert sorted(p.name for p in tmp_path.glob("all-*.png")) == ["all-1.png", "all-2.png", "all-3.png"]


def test_predict_with_a_bad_model_file(tmp_path):
    result = script("predict.py", tmp_path / "none.npz", tmp_path)
    assert result.returncode == 1 and result.stderr.startswith("error: no checkpoint at")
