"""Setting up a run (lenet_xp.training.experiment.Experiment, from a configuration that
lenet_xp.training.config.RunConfig resolves): what it refuses before any training, and the CPU
threads it takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from lenet_xp.backend import available_cores
from lenet_xp.training.communicators import SINGLE_PROCESS
from lenet_xp.training.config import RunConfig
from lenet_xp.training.experiment import Experiment
from mnist_files import learnable_arrays, write_fake_mnist


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mnist")
    write_fake_mnist(folder, learnable_arrays(n_train=300, n_test=50))
    return folder


def config(data_dir, recipe=None, **changes) -> RunConfig:
    return RunConfig.from_dict({"data_dir": str(data_dir), "verify": False, "download": False,
                                "val_size": 100, "out": None, "progress": False, "plot": False,
                                **changes}, recipe or {})


def set_up(config: RunConfig, log) -> Experiment:
    """The run of ``config`` on one process, set up as ``run`` sets it up."""
    resolved, backend = config.resolve(SINGLE_PROCESS, log)
    return Experiment(resolved, backend, SINGLE_PROCESS, log)


def test_an_unresolved_configuration_is_refused(data_dir):
    """A RunConfig's recipe is a dict of changes until RunConfig.resolve makes it a Recipe."""
    unresolved = config(data_dir)
    _, backend = unresolved.resolve(SINGLE_PROCESS, lambda line: None)
    with pytest.raises(TypeError, match="takes a resolved configuration .RunConfig.resolve., "
                                        "whose recipe is a Recipe, not dict"):
        Experiment(unresolved, backend, SINGLE_PROCESS, lambda line: None)


@pytest.mark.parametrize("limit", [0, -5])
def test_a_train_limit_below_one_is_refused(data_dir, limit):
    with pytest.raises(ValueError, match=f"train_limit must be >= 1, got {limit}"):
        set_up(config(data_dir, train_limit=limit), log=lambda line: None)


def test_a_batch_larger_than_the_training_set_is_refused(data_dir):
    with pytest.raises(ValueError, match="batch size 1,000 is larger than the 200 training "
                                         "images: use --batch-size 200 or less"):
        set_up(config(data_dir, recipe={"batch_size": 1000}), log=lambda line: None)
    with pytest.raises(ValueError, match="larger than the 50 training images"):
        set_up(config(data_dir, train_limit=50), log=lambda line: None)  # batch 64
    set_up(config(data_dir, recipe={"batch_size": 200}), log=lambda line: None)


def test_threads_beyond_the_cores_are_capped_with_a_line(data_dir):
    cores = available_cores()
    lines = []
    experiment = set_up(config(data_dir, threads=cores + 7), log=lines.append)
    assert experiment.cpu.threads == cores and experiment.config.placement.threads == cores
    assert lines == [f"--threads {cores + 7} is more than the {cores} cores this process may "
                     f"use: using {cores} (threads beyond the cores only wait for each other)"]
    lines.clear()
    assert set_up(config(data_dir, threads=cores), log=lines.append).cpu.threads == cores
    assert lines == []
