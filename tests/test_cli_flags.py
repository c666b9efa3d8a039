"""Flags made from declared settings (lenet_xp.cli.flags): each setting's flag, type, help and
default come from its declaration, and only the flags given are reported."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from lenet_xp.cli.flags import add_flags, given
from lenet_xp.models.recipe import Recipe
from lenet_xp.settings import branch, keys, leaves, setting
from lenet_xp.training.config import RunConfig

TRAIN = Path(__file__).resolve().parents[1] / "scripts" / "train.py"


@dataclasses.dataclass(frozen=True)
class Inner:
    rate: float = setting(0.5, "how fast", key="inner_rate")
    mode: str = setting("a", "which mode", choices=("a", "b"))


@dataclasses.dataclass(frozen=True)
class Outer:
    count: int = setting(3, "how many", at_least=1)
    jobs: int | str = setting("auto", "how many jobs", auto=True, at_least=1)
    check: bool = setting(True, "skip the check", flag="off")
    bars: bool | None = setting(None, "draw bars", flag="switch", shown="on a terminal")
    hidden: int = setting(0, "no flag", flag=None)
    inner: Inner = branch(Inner)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="p")
    add_flags(parser, leaves(Outer))
    return parser


def test_only_the_flags_given_are_reported_with_their_types():
    args = _parser().parse_args(["--count", "4", "--no-check", "--jobs", "auto",
                                 "--inner-rate", "0.25", "--no-bars"])
    assert given(args, Outer) == {"count": 4, "jobs": "auto", "check": False, "bars": False,
                                  "inner_rate": 0.25}
    assert given(_parser().parse_args(["--jobs", "2"]), Outer) == {"jobs": 2}
    assert given(_parser().parse_args([]), Outer) == {}


@pytest.mark.parametrize("argv, message", [
    (["--count", "0"], "argument --count: must be >= 1, got 0"),
    (["--jobs", "two"], "argument --jobs: expected an integer, got 'two'"),
    (["--inner-rate", "nan"], "argument --inner-rate: expected a finite number, got 'nan'"),
    (["--mode", "c"], "argument --mode: invalid choice: 'c'"),
    (["--hidden", "1"], "unrecognized arguments: --hidden 1"),
])
def test_a_bad_value_is_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        _parser().parse_args(argv)
    assert stopped.value.code == 2 and message in capsys.readouterr().err


def test_the_help_says_each_declared_default():
    text = _parser().format_help()
    for line in ("how many (default: 3)", "how many jobs (default: auto)",
                 "draw bars (default: on a terminal)", "how fast (default: 0.5)"):
        assert line in " ".join(text.split()), line
    assert "--no-check" in text and "skip the check" in text and "--hidden" not in text


def test_train_py_has_a_flag_with_help_for_every_setting_that_declares_one():
    """scripts/train.py --help: the flags are the settings', their help and defaults too."""
    done = subprocess.run([sys.executable, str(TRAIN), "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    for leaf in [*leaves(RunConfig), *leaves(Recipe)]:
        flag = leaf.declared.flag
        if flag is None:
            continue
        name = ("--no-" if flag == "off" else "--") + leaf.key.replace("_", "-")
        assert name in text and leaf.declared.help in text, name
    for default in ("(default: lenet5)", "(default: cpu)", "(default: float32)",
                    "(default: 0)", "(default: 5000)", "(default: runs/MODEL)",
                    "(default: auto)", "(default: every core)"):
        assert default in text, default
    assert set(keys(Recipe)) >= {"epochs", "batch_size", "lr", "optimizer", "schedule"}
