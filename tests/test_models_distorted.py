"""The zoo entries trained on distorted digits: same networks, recipes that distort, and a
short run of each on numpy and on the simulated accelerator (the distortions on the device)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lenet_xp.backend import Random, to_numpy
from lenet_xp.models import get_model
from lenet_xp.runs.checkpoint import load_checkpoint
from backends import device_params
from mnist_files import learnable_arrays, train_quietly, write_fake_mnist
from scripts_loader import load_script

ENTRIES = {"lenet5_paper_distorted": ("lenet5_paper", "affine"),
           "lenet5_elastic": ("lenet5", "elastic"),
           "deep_cnn_elastic": ("deep_cnn", "elastic")}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mnist")
    write_fake_mnist(folder, learnable_arrays(n_train=160, n_test=40))
    return folder


@pytest.mark.parametrize("name", ENTRIES)
def test_same_network_recipe_that_distorts(name):
    base, kind = ENTRIES[name]
    spec, plain = get_model(name), get_model(base)
    assert spec.recipe.distortion.kind == kind and plain.recipe.distortion.kind == "none"
    assert (spec.loss, spec.input_size, spec.normalisation) == (plain.loss, plain.input_size,
                                                               plain.normalisation)
    ours, theirs = spec.build(Random(3), "float64"), plain.build(Random(3), "float64")
    assert all(np.array_equal(to_numpy(a), to_numpy(b))
               for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()))


@pytest.mark.parametrize("device", device_params("end_to_end"))
@pytest.mark.parametrize("name", ENTRIES)
def test_each_entry_trains_on_distorted_batches(name, device, data_dir, tmp_path):
    out = tmp_path / name
    recipe = {"epochs": 1, "batch_size": 16} if name != "lenet5_paper_distorted" else {
        "epochs": 1, "batch_size": 8, "sdlm_samples": 20}
    result = train_quietly(data_dir, out, recipe, model=name, val_size=40, device=device,
                           train_limit=80)
    assert math.isfinite(result.history[0].train_loss) and 0 <= result.test_accuracy <= 1
    saved = load_checkpoint(out / "model.npz").meta["recipe"]
    assert saved["distort"] == ENTRIES[name][1]  # recorded in the checkpoint


def test_the_distortions_script_draws_what_a_model_trains_on(data_dir, tmp_path, capsys):
    script = load_script("distortions")
    out = tmp_path / "d.png"
    assert script.main(["--model", "deep_cnn_elastic", "--data-dir", str(data_dir), "--no-verify",
                        "--count", "3", "--copies", "2", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    assert script.main(["--data-dir", str(data_dir), "--no-verify", "--recipe", "distort=wobble",
                        "--out", str(out)]) == 2
    assert "unknown distortion" in capsys.readouterr().err
    # missing data files are a file that turned out unusable, as for every script: 1
    assert script.main(["--data-dir", str(tmp_path / "nowhere"), "--out", str(out)]) == 1
