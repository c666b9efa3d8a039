"""Committees: lenet_xp.load_model([...]) averages its members' scores, each member preparing
the raw digits its own way; scripts/evaluate.py and scripts/predict.py with several models;
evaluation on a run's validation split."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lenet_xp
from lenet_xp.data import load_mnist
from lenet_xp.inference.evaluation import evaluate_digits
from lenet_xp.inference import Committee, Predictions
from mnist_files import learnable_arrays, train_quietly, write_fake_mnist

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def script(name, *args):
    result = subprocess.run([sys.executable, str(SCRIPTS / name), *map(str, args)],
                            capture_output=True, text=True, timeout=300)
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Models trained briefly on learnable fake digits: lenet5 seeds 0 and 1 (32×32 inputs,
    standardised), lenet1 (a 16×16 zoom, LeCun's normalisation) and lenet5_paper (RBF output,
    MAP posteriors): name -> model.npz; and the data folder."""
    root = tmp_path_factory.mktemp("committee")
    write_fake_mnist(root / "data", learnable_arrays(n_train=600, n_test=200))
    runs = {"lenet5-0": ("lenet5", 0, {"epochs": 2}), "lenet5-1": ("lenet5", 1, {"epochs": 2}),
            "lenet1": ("lenet1", 0, {"epochs": 3}),
            "lenet5_paper": ("lenet5_paper", 0, {"epochs": 1, "batch_size": 10})}
    paths = {}
    for name, (model, seed, recipe) in runs.items():
        train_quietly(root / "data", root / name, recipe, model=model, seed=seed)
        paths[name] = root / name / "model.npz"
    return paths, root / "data"


def _test_set(data_dir):
    return load_mnist(data_dir, verify=False, download=False)


def test_a_committee_averages_its_members_scores(trained):
    paths, data_dir = trained
    test = _test_set(data_dir)
    chosen = [paths["lenet5-0"], paths["lenet5-1"], paths["lenet1"]]
    committee = lenet_xp.load_model(chosen)
    assert isinstance(committee, Committee) and len(committee.members) == 3
    assert [m.name for m in committee.members] == ["lenet5", "lenet5", "lenet1"]
    # each member prepares the raw digits its own way: 32×32 standardised, 28×28 LeCun-scaled
    assert committee.members[0].prepare(test.test_images[:2]).shape == (2, 1, 32, 32)
    assert committee.members[2].prepare(test.test_images[:2]).shape == (2, 1, 28, 28)
    alone = [lenet_xp.load_model(path).predict(test.test_images) for path in chosen]
    together = committee.predict(test.test_images)
    expected = (alone[0].scores + alone[1].scores + alone[2].scores) / 3
    np.testing.assert_allclose(together.scores, expected, rtol=1e-12)
    np.testing.assert_array_equal(together.labels, np.argmax(expected, axis=1))
    np.testing.assert_allclose(together.scores.sum(axis=1), 1.0, rtol=1e-5)
    assert committee.num_parameters() == sum(m.num_parameters() for m in committee.members)
    assert "mean of 3 members' probability" in committee.score_name


def test_a_committee_of_one_is_its_member(trained):
    paths, data_dir = trained
    digits = _test_set(data_dir).test_images
    alone = lenet_xp.load_model(paths["lenet1"]).predict(digits)
    one = lenet_xp.load_model([paths["lenet1"]]).predict(digits)
    np.testing.assert_array_equal(one.labels, alone.labels)
    np.testing.assert_array_equal(one.scores, alone.scores)


def test_predictions_mean_breaks_ties_to_the_first_class():
    parts = [Predictions(np.array([0]), np.array([[0.6, 0.4]])),
             Predictions(np.array([1]), np.array([[0.4, 0.6]]))]
    mean = Predictions.mean(parts)
    assert mean.labels.tolist() == [0] and mean.scores.tolist() == [[0.5, 0.5]]


def test_probabilities_and_map_posteriors_do_not_mix(trained):
    paths, _ = trained
    with pytest.raises(ValueError, match=r"one kind of score.*lenet5: probability.*"
                                         r"lenet5_paper: map_posterior"):
        lenet_xp.load_model([paths["lenet5-0"], paths["lenet5_paper"]])
    with pytest.raises(ValueError, match="at least one model"):
        lenet_xp.load_model([])
    alone = lenet_xp.load_model([paths["lenet5_paper"]])  # MAP models among themselves: fine
    assert alone.score_name.startswith("mean of 1 members' posterior of the MAP criterion")


def test_a_committee_classifies_files(trained, tmp_path):
    paths, _ = trained
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(255 - np.kron(digit, np.ones((4, 4), np.uint8))).save(tmp_path / "one.png")
    (tmp_path / "empty.png").write_bytes(b"")
    committee = lenet_xp.load_model([paths["lenet5-0"], paths["lenet1"]])
    results = committee.predict_files([tmp_path / "one.png", tmp_path / "empty.png"], top=2)
    assert results[1].error is not None and results[1].top is None
    scores = committee.predict(results[0].digit[None]).scores[0]
    best = np.argsort(-scores, kind="stable")[:2]
    assert results[0].top == [(int(c), pytest.approx(scores[c])) for c in best]
    shown = script("predict.py", paths["lenet5-0"], paths["lenet1"], tmp_path / "one.png",
                   "--json", "--top", "2")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["top"] == [[c, pytest.approx(s)] for c, s in results[0].top]
    text = script("predict.py", paths["lenet5-0"], paths["lenet1"], tmp_path / "one.png")
    assert text.stdout.startswith("committee (lenet5, lenet1) scores: mean of 2 members' probability")


def test_predict_needs_a_model_first_and_an_image(trained, tmp_path):
    paths, _ = trained
    result = script("predict.py", tmp_path / "one.png", paths["lenet1"])
    assert result.returncode == 2 and "must be a model file (.npz)" in result.stderr
    result = script("predict.py", paths["lenet1"], paths["lenet5-0"])
    assert result.returncode == 2 and "no images to classify" in result.stderr
    result = script("predict.py", paths["lenet1"], paths["lenet5_paper"], tmp_path)
    assert result.returncode == 2 and "one kind of score" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_evaluate_reports_each_member_and_the_committee(trained, tmp_path):
    paths, data_dir = trained
    test = _test_set(data_dir)
    chosen = [paths["lenet5-0"], paths["lenet5-1"], paths["lenet1"]]
    combined = evaluate_digits(lenet_xp.load_model(chosen), test.test_images, test.test_labels)
    for path, member in zip(chosen, combined.members):
        alone = evaluate_digits(lenet_xp.load_model(path), test.test_images, test.test_labels)
        assert member.accuracy == alone.accuracy and member.loss == alone.loss
    labels = lenet_xp.load_model(chosen).predict(test.test_images).labels
    assert combined.accuracy == np.mean(labels == test.test_labels)
    assert combined.loss == pytest.approx(-np.mean(np.log(
        combined.scores[np.arange(200), test.test_labels])))

    result = script("evaluate.py", *chosen, "--data-dir", data_dir, "--no-verify",
                    "--json", tmp_path / "c.json", "--plots", tmp_path / "figures")
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "c.json").read_text())
    assert record["model"] == "committee" and record["test_accuracy"] == combined.accuracy
    assert [m["checkpoint"] for m in record["members"]] == [str(p) for p in chosen]
    assert [m["test_accuracy"] for m in record["members"]] == [m.accuracy for m in combined.members]
    assert [m["seed"] for m in record["members"]] == [0, 1, 0]
    assert np.array(record["confusion"]).sum() == 200
    assert result.stdout.startswith("committee of 3 models")
    assert f"committee: test accuracy {100 * combined.accuracy:.2f}%" in result.stdout
    for index, member in enumerate(combined.members, 1):
        assert f"  {index}. {chosen[index - 1]}: " in result.stdout
        assert f"test error {100 * (1 - member.accuracy):.2f}%" in result.stdout
    assert {p.name for p in (tmp_path / "figures").iterdir()} == {"confusion.png",
                                                                  "misclassified.png"}
    mixed = script("evaluate.py", paths["lenet5-0"], paths["lenet5_paper"], "--data-dir", data_dir)
    assert mixed.returncode == 2 and "one kind of score" in mixed.stderr


def test_evaluate_on_the_validation_split(trained, tmp_path):
    """The validation figure of the run's last epoch, from model.npz and the held-out images."""
    paths, data_dir = trained
    last_epoch = [json.loads(line) for line in
                  (paths["lenet1"].parent / "metrics.jsonl").read_text().splitlines()][-2]
    result = script("evaluate.py", paths["lenet1"], "--data-dir", data_dir, "--no-verify",
                    "--split", "validation", "--json", tmp_path / "v.json")
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "v.json").read_text())
    assert record["count"] == 100 and record["validation_accuracy"] == last_epoch["val_accuracy"]
    assert "validation accuracy" in result.stdout and "the training run reported" not in result.stdout
    same_split = script("evaluate.py", paths["lenet5-0"], paths["lenet1"], "--data-dir", data_dir,
                        "--no-verify", "--split", "validation")
    assert same_split.returncode == 0 and "members' validation error" in same_split.stdout
    seeds = script("evaluate.py", paths["lenet5-0"], paths["lenet5-1"], "--data-dir", data_dir,
                   "--no-verify", "--split", "validation")
    assert seeds.returncode == 2 and "held out different validation images" in seeds.stderr
