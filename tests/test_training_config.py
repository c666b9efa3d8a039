"""A run's configuration (lenet_xp.training.config): one tree, each setting declared once with
its default, help text and whether a resumed run may change it; its flat form is what
checkpoints keep (format 2: the keys of today's checkpoints read as before)."""

from __future__ import annotations

import dataclasses

import pytest

from lenet_xp.models import get_model
from lenet_xp.settings import keys, leaves
from lenet_xp.training.config import IO, RunConfig, resume_changes
from lenet_xp.training.placement import Placement


def test_every_setting_has_one_key_and_a_help_text():
    settings = list(leaves(RunConfig))
    assert len({leaf.key for leaf in settings}) == len(settings), "two settings share a key"
    assert all(leaf.declared.help for leaf in settings)
    assert [leaf.path[0] for leaf in settings[-10:]] == ["placement"] * 4 + ["io"] * 6


def test_the_flat_form_holds_the_tree():
    config = RunConfig(model="bn_cnn", seed=3, recipe={"epochs": 2},
                       placement=Placement(device="torch:cpu", threads=2, split=False),
                       io=IO(data_dir="/data", verify=False, out="runs/x"))
    flat = config.to_dict()
    assert flat["device"] == "torch:cpu" and flat["split_batch"] is False and "recipe" not in flat
    assert RunConfig.from_dict(flat, {"epochs": 2}) == config


def test_the_output_folder_follows_the_model():
    assert RunConfig().out == "runs/lenet5" and RunConfig(model="bn_cnn").out == "runs/bn_cnn"
    assert RunConfig(io=IO(out="runs/{model}-seed1")).out == "runs/lenet5-seed1"
    assert RunConfig(io=IO(out=None)).out is None  # a run that writes no files


def test_a_checkpoint_config_of_today_s_format_reads():
    """Format 2's flat config: the recipe's changes in it, and no ranks (not recorded then)."""
    saved = {"model": "lenet5", "device": "cpu", "dtype": "float32", "seed": 4,
             "data_dir": "/data", "val_size": 5000, "out": "runs/lenet5", "recipe": {"lr": 0.1},
             "verify": True, "download": True, "train_limit": None, "progress": None,
             "plot": True, "threads": 2, "split_batch": None}
    config = RunConfig.from_dict(saved, get_model("lenet5").recipe.to_dict())
    assert (config.seed, config.placement.threads, config.placement.ranks) == (4, 2, "auto")
    assert config.full_recipe == get_model("lenet5").recipe


def test_a_resumed_run_may_change_where_it_runs_and_its_epochs_only():
    saved = RunConfig(seed=1, recipe=get_model("lenet5").recipe)
    config, problems = resume_changes(saved, {"device": "torch:cpu", "threads": 1, "seed": 1},
                                      {"epochs": 30})
    assert problems == []
    assert (config.placement.device, config.placement.threads) == ("torch:cpu", 1)
    assert config.full_recipe.epochs == 30 and config.seed == 1
    _, problems = resume_changes(saved, {"seed": 2, "dtype": "float64"}, {"lr": 0.5})
    assert problems == ["--seed 2 (the checkpoint's run has 1)",
                        "--dtype 'float64' (the checkpoint's run has 'float32')",
                        f"recipe lr=0.5 (the checkpoint's run has {saved.full_recipe.lr!r})"]
    free = {key for key, leaf in keys(RunConfig).items() if leaf.declared.free}
    assert free == {"device", "ranks", "threads", "split_batch", "data_dir", "verify", "download",
                    "progress", "plot"}


def test_a_config_is_a_value():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunConfig().seed = 3
